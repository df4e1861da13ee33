-- Rolling purchase features per user, built from the daily buckets of user_daily_orders
-- (stamped at day end). A row exists at every moment one of the features changes.
with daily as (
    select user_id, event_timestamp, daily_order_count, daily_spend
    from __fsql_ref__user_daily_orders
),

-- A day's orders leave the window window_days after its bucket closes. Add an empty
-- row at that moment so the windowed count drops on time: otherwise a user who
-- stops ordering keeps their last count in training sets and online until the TTL ends.
change_points as (
    select user_id, event_timestamp, daily_order_count, daily_spend, 1 as order_day
    from daily
    union all
    select user_id, event_timestamp + interval 30 day, 0, 0.0, 0
    from daily
),

-- An expiry can fall on a day end that also has orders: keep one row per user and time.
per_time as (
    select
        user_id,
        event_timestamp,
        sum(daily_order_count) as order_count,
        sum(daily_spend) as spend,
        sum(order_day) as order_days
    from change_points
    group by user_id, event_timestamp
)

select
    user_id,
    event_timestamp,
    -- When the row became available: the daily job runs a minute after midnight.
    event_timestamp + interval 1 minute as created_timestamp,
    -- Buckets are stamped at day end, so a frame reaching back window_days - 1 days
    -- holds exactly window_days whole days of orders, today's included.
    cast(sum(order_count) over (
        partition by user_id
        order by event_timestamp
        range between interval 29 day preceding and current row
    ) as bigint) as user_30d_purchase_count,
    round(sum(spend) over (
        partition by user_id
        order by event_timestamp
        rows between unbounded preceding and current row
    ), 2) as user_lifetime_value,
    cast(sum(order_days) over (
        partition by user_id
        order by event_timestamp
        rows between unbounded preceding and current row
    ) as bigint) as user_order_days
from per_time

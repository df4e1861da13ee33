{%- set delay = var('daily_job_delay_minutes', 1) | int %}
-- Running purchase totals per user, built from the daily buckets of user_daily_orders
-- (stamped at day end): a row at the end of every day with orders. The sliding-window
-- counts live in user_orders, exact at any time rather than at day ends.
select
    user_id,
    event_timestamp,
    -- When the row became available: the daily job runs a little after midnight, and
    -- with `visible_at: created_timestamp` a training row sees the day only from then on.
    event_timestamp + interval {{ delay }} minute as created_timestamp,
    round(sum(daily_spend) over (
        partition by user_id
        order by event_timestamp
        rows between unbounded preceding and current row
    ), 2) as user_lifetime_value,
    cast(count(*) over (
        partition by user_id
        order by event_timestamp
        rows between unbounded preceding and current row
    ) as bigint) as user_order_days
from {{ ref('user_daily_orders') }}

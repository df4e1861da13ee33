-- Orders per user per UTC day. Each row is stamped at the end of its day (day_end):
-- the day's totals only exist once the day is over.
with orders as (
    select
        cast(user_id as bigint) as user_id,
        (date_trunc('day', CAST(order_ts AS TIMESTAMP)) + INTERVAL 1 DAY) as day_end,
        cast(amount as double) as amount
    from __fsql_src__raw__orders
)

select
    user_id,
    day_end as event_timestamp,
    count(*) as daily_order_count,
    round(sum(amount), 2) as daily_spend
from orders
group by user_id, day_end

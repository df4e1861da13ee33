-- One row per order: the events user_orders aggregates over sliding windows.
select
    cast(user_id as bigint) as user_id,
    cast(order_ts as timestamp) as event_timestamp,
    cast(amount as double) as amount
from {{ source('raw', 'orders') }}

-- One row per order, keyed by item: the events item_orders aggregates.
select
    cast(item_id as bigint) as item_id,
    cast(order_ts as timestamp) as event_timestamp,
    cast(user_id as bigint) as user_id
from {{ source('raw', 'orders') }}

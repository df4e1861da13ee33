-- One row per add-to-cart click; real-time clicks arrive by `fsql push user_cart`.
select
    cast(user_id as bigint) as user_id,
    cast(added_ts as timestamp) as event_timestamp,
    cast(quantity as bigint) as quantity
from __fsql_src__raw__cart_events

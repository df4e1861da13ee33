CREATE OR REPLACE TABLE item_orders AS
SELECT
  *
  REPLACE (CAST(event_timestamp AS TIMESTAMPTZ) AS event_timestamp)
FROM (
  /* One row per order, keyed by item: the events item_orders aggregates. */
  SELECT
    CAST(item_id AS BIGINT) AS item_id,
    CAST(order_ts AS TIMESTAMP) AS event_timestamp,
    CAST(user_id AS BIGINT) AS user_id
  FROM READ_CSV('data/orders.csv') AS orders
) AS __fsql_model;

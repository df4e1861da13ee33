CREATE OR REPLACE TABLE user_orders AS
SELECT
  *
  REPLACE (CAST(event_timestamp AS TIMESTAMPTZ) AS event_timestamp)
FROM (
  /* One row per order: the events user_orders aggregates over sliding windows. */
  SELECT
    CAST(user_id AS BIGINT) AS user_id,
    CAST(order_ts AS TIMESTAMPNTZ) AS event_timestamp,
    CAST(amount AS DOUBLE) AS amount
  FROM raw.orders AS orders
) AS __fsql_model;

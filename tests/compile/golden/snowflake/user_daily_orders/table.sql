CREATE OR REPLACE VIEW user_daily_orders AS
SELECT
  *
  REPLACE (CAST(event_timestamp AS TIMESTAMPTZ) AS event_timestamp, CAST(daily_order_count AS BIGINT) AS daily_order_count, CAST(daily_spend AS DOUBLE) AS daily_spend)
FROM (
  /* Orders per user per UTC day. Each row is stamped at the end of its day (day_end): */
  /* the day's totals only exist once the day is over. */
  WITH orders AS (
    SELECT
      CAST(user_id AS BIGINT) AS user_id,
      (
        DATE_TRUNC('DAY', CAST(order_ts AS TIMESTAMPNTZ)) + INTERVAL '1 DAY'
      ) AS day_end,
      CAST(amount AS DOUBLE) AS amount
    FROM raw.orders AS orders
  )
  SELECT
    user_id,
    day_end AS event_timestamp,
    COUNT(*) AS daily_order_count,
    ROUND(SUM(amount), 2) AS daily_spend
  FROM orders
  GROUP BY
    user_id,
    day_end
) AS __fsql_model;

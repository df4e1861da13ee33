CREATE OR REPLACE TABLE `my-project`.`fsql`.`user_orders` AS
SELECT
  *
  REPLACE (CAST(`event_timestamp` AS TIMESTAMP) AS `event_timestamp`)
FROM (
  /* One row per order: the events user_orders aggregates over sliding windows. */
  SELECT
    CAST(`user_id` AS INT64) AS `user_id`,
    CAST(`order_ts` AS DATETIME) AS `event_timestamp`,
    CAST(`amount` AS FLOAT64) AS `amount`
  FROM `raw`.`orders` AS `orders`
) AS `__fsql_model`;

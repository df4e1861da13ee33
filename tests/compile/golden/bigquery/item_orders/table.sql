CREATE OR REPLACE TABLE `my-project`.`fsql`.`item_orders` AS
SELECT
  *
  REPLACE (CAST(`event_timestamp` AS TIMESTAMP) AS `event_timestamp`)
FROM (
  /* One row per order, keyed by item: the events item_orders aggregates. */
  SELECT
    CAST(`item_id` AS INT64) AS `item_id`,
    CAST(`order_ts` AS DATETIME) AS `event_timestamp`,
    CAST(`user_id` AS INT64) AS `user_id`
  FROM `raw`.`orders` AS `orders`
) AS `__fsql_model`;

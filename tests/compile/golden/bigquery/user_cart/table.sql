CREATE OR REPLACE TABLE `my-project`.`fsql`.`user_cart` AS
SELECT
  *
  REPLACE (CAST(`event_timestamp` AS TIMESTAMP) AS `event_timestamp`)
FROM (
  /* One row per add-to-cart click; real-time clicks arrive by `fsql push user_cart`. */
  SELECT
    CAST(`user_id` AS INT64) AS `user_id`,
    CAST(`added_ts` AS DATETIME) AS `event_timestamp`,
    CAST(`quantity` AS INT64) AS `quantity`
  FROM `raw`.`cart_events` AS `cart_events`
) AS `__fsql_model`;

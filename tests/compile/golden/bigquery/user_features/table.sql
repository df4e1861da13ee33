CREATE OR REPLACE TABLE `my-project`.`fsql`.`user_features` AS
SELECT
  *
  REPLACE (CAST(`event_timestamp` AS TIMESTAMP) AS `event_timestamp`, CAST(`created_timestamp` AS TIMESTAMP) AS `created_timestamp`, CAST(`user_30d_purchase_count` AS INT64) AS `user_30d_purchase_count`, CAST(`user_lifetime_value` AS FLOAT64) AS `user_lifetime_value`, CAST(`user_order_days` AS INT64) AS `user_order_days`)
FROM (
  /* Rolling purchase features per user, built from the daily buckets of user_daily_orders */
  /* (stamped at day end). A row exists at every moment one of the features changes. */
  WITH `daily` AS (
    SELECT
      `user_id`,
      `event_timestamp`,
      `daily_order_count`,
      `daily_spend`
    FROM `my-project`.`fsql`.`user_daily_orders`
  ), `change_points` /* A day's orders leave the window window_days after its bucket closes. Add an empty */ /* row at that moment so the windowed count drops on time: otherwise a user who */ /* stops ordering keeps their last count in training sets and online until the TTL ends. */ AS (
    SELECT
      `user_id`,
      `event_timestamp`,
      `daily_order_count`,
      `daily_spend`,
      1 AS `order_day`
    FROM `daily`
    UNION ALL
    SELECT
      `user_id`,
      `event_timestamp` + INTERVAL '30' DAY,
      0,
      0.0,
      0
    FROM `daily`
  ), `per_time` /* An expiry can fall on a day end that also has orders: keep one row per user and time. */ AS (
    SELECT
      `user_id`,
      `event_timestamp`,
      SUM(`daily_order_count`) AS `order_count`,
      SUM(`daily_spend`) AS `spend`,
      SUM(`order_day`) AS `order_days`
    FROM `change_points`
    GROUP BY
      `user_id`,
      `event_timestamp`
  )
  SELECT
    `user_id`,
    `event_timestamp`,
    `event_timestamp` /* When the row became available: the daily job runs a minute after midnight. */ + INTERVAL '1' MINUTE AS `created_timestamp`,
    CAST(SUM(`order_count`) OVER (
      PARTITION BY `user_id`
      ORDER BY UNIX_MICROS(CAST(`event_timestamp` AS TIMESTAMP))
      range BETWEEN 2505600000000 preceding AND CURRENT ROW
    ) AS INT64) AS `user_30d_purchase_count`, /* Buckets are stamped at day end, so a frame reaching back window_days - 1 days */ /* holds exactly window_days whole days of orders, today's included. */
    ROUND(
      SUM(`spend`) OVER (
        PARTITION BY `user_id`
        ORDER BY `event_timestamp` IS NULL ASC, `event_timestamp`
        rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
      ),
      2
    ) AS `user_lifetime_value`,
    CAST(SUM(`order_days`) OVER (
      PARTITION BY `user_id`
      ORDER BY `event_timestamp` IS NULL ASC, `event_timestamp`
      rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
    ) AS INT64) AS `user_order_days`
  FROM `per_time`
) AS `__fsql_model`;

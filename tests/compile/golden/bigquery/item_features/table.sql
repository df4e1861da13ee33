CREATE OR REPLACE TABLE `my-project`.`fsql`.`item_features` AS
SELECT
  *
  REPLACE (CAST(`event_timestamp` AS TIMESTAMP) AS `event_timestamp`, CAST(`item_avg_rating` AS FLOAT64) AS `item_avg_rating`, CAST(`item_review_count` AS INT64) AS `item_review_count`, CAST(`item_category` AS STRING) AS `item_category`)
FROM (
  /* Running review statistics per item, plus its category. */
  WITH `items` AS (
    SELECT
      CAST(`item_id` AS INT64) AS `item_id`,
      CAST(`category` AS STRING) AS `category`,
      CAST(`listed_ts` AS DATETIME) AS `listed_ts`
    FROM `raw`.`items` AS `items`
  ), `reviews` AS (
    SELECT
      CAST(`item_id` AS INT64) AS `item_id`,
      (
        TIMESTAMP_TRUNC(CAST(`review_ts` AS DATETIME), DAY) + INTERVAL '1' DAY
      ) AS `day_end`,
      CAST(`rating` AS INT64) AS `rating`
    FROM `raw`.`reviews` AS `reviews`
  ), `daily_reviews` /* Reviews are counted per UTC day, stamped at the end of the day like every daily bucket. */ AS (
    SELECT
      `item_id`,
      `day_end` AS `event_timestamp`,
      COUNT(*) AS `review_count`,
      SUM(`rating`) AS `rating_sum`
    FROM `reviews`
    GROUP BY
      `item_id`,
      `day_end`
  ), `changes` /* An item is known from the moment it is listed, before any review: a zero-review row */ /* then gives training rows its category and a count of 0 rather than all NULLs. */ AS (
    SELECT
      `item_id`,
      `listed_ts` AS `event_timestamp`,
      0 AS `review_count`,
      0 AS `rating_sum`
    FROM `items`
    UNION ALL
    SELECT
      `item_id`,
      `event_timestamp`,
      `review_count`,
      `rating_sum`
    FROM `daily_reviews`
  ), `per_time` /* A listing made exactly at midnight shares a review day's end: one row per item and time. */ AS (
    SELECT
      `item_id`,
      `event_timestamp`,
      SUM(`review_count`) AS `review_count`,
      SUM(`rating_sum`) AS `rating_sum`
    FROM `changes`
    GROUP BY
      `item_id`,
      `event_timestamp`
  ), `running` AS (
    SELECT
      `item_id`,
      `event_timestamp`,
      SUM(`review_count`) OVER (
        PARTITION BY `item_id`
        ORDER BY `event_timestamp` IS NULL ASC, `event_timestamp`
        rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
      ) AS `review_count`,
      SUM(`rating_sum`) OVER (
        PARTITION BY `item_id`
        ORDER BY `event_timestamp` IS NULL ASC, `event_timestamp`
        rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
      ) AS `rating_sum`
    FROM `per_time`
  )
  SELECT
    `running`.`item_id` AS `item_id`,
    `running`.`event_timestamp` AS `event_timestamp`,
    CAST(`running`.`rating_sum` AS FLOAT64) /* Average of every review so far (not an average of daily averages); NULL until */ /* the first review. */ / NULLIF(`running`.`review_count`, 0) AS `item_avg_rating`,
    CAST(`running`.`review_count` AS INT64) AS `item_review_count`,
    `items`.`category` AS `item_category`
  FROM `running`
  /* Inner join: reviews of an item missing from the catalogue have no category to serve. */
  INNER JOIN `items`
    ON `items`.`item_id` = `running`.`item_id`
) AS `__fsql_model`;

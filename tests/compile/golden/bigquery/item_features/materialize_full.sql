SELECT
  `item_id`,
  `event_timestamp` AS `__event_ts`,
  CAST(NULL AS TIMESTAMP) AS `__created_ts`,
  `item_avg_rating`,
  `item_review_count`,
  `item_category`,
  CAST(CONCAT(
    '0x',
    SUBSTRING(
      TO_HEX(
        MD5(TO_JSON_STRING(STRUCT(`item_avg_rating`, `item_review_count`, `item_category`)))
      ),
      1,
      15
    )
  ) AS INT64) AS `__version`
FROM `my-project`.`fsql`.`item_features`
WHERE
  NOT `item_id` IS NULL
  AND NOT `event_timestamp` IS NULL
  AND `event_timestamp` <= @end
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY `item_id`
    ORDER BY `event_timestamp` DESC, CAST(CONCAT(
      '0x',
      SUBSTRING(
        TO_HEX(
          MD5(TO_JSON_STRING(STRUCT(`item_avg_rating`, `item_review_count`, `item_category`)))
        ),
        1,
        15
      )
    ) AS INT64) DESC
  ) = 1
ORDER BY
  `item_id`;

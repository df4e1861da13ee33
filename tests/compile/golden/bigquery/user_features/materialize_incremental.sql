SELECT
  `user_id`,
  `event_timestamp` AS `__event_ts`,
  `created_timestamp` AS `__created_ts`,
  `user_lifetime_value`,
  `user_order_days`,
  CAST(CONCAT(
    '0x',
    SUBSTRING(TO_HEX(MD5(TO_JSON_STRING(STRUCT(`user_lifetime_value`, `user_order_days`)))), 1, 15)
  ) AS INT64) AS `__version`
FROM `my-project`.`fsql`.`user_features`
WHERE
  (
    (
      NOT `user_id` IS NULL
      AND NOT `event_timestamp` IS NULL
      AND `event_timestamp` <= @end
    )
    AND (
      `created_timestamp` IS NULL OR `created_timestamp` <= @end
    )
  )
  AND (
    `created_timestamp` >= @start OR `created_timestamp` IS NULL
  )
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY `user_id`
    ORDER BY `event_timestamp` DESC, `created_timestamp` DESC, CAST(CONCAT(
      '0x',
      SUBSTRING(TO_HEX(MD5(TO_JSON_STRING(STRUCT(`user_lifetime_value`, `user_order_days`)))), 1, 15)
    ) AS INT64) DESC
  ) = 1
ORDER BY
  `user_id`;

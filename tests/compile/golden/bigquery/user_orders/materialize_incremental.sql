SELECT
  `user_id`,
  `event_timestamp` AS `__event_ts`,
  CAST(NULL AS TIMESTAMP) AS `__created_ts`,
  `amount`,
  CAST(CONCAT('0x', SUBSTRING(TO_HEX(MD5(TO_JSON_STRING(STRUCT(`amount`)))), 1, 15)) AS INT64) AS `__version`
FROM `my-project`.`fsql`.`user_orders`
WHERE
  (
    NOT `user_id` IS NULL
    AND NOT `event_timestamp` IS NULL
    AND `event_timestamp` <= @end
  )
  AND `event_timestamp` >= @start
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY `user_id`
    ORDER BY `event_timestamp` DESC, CAST(CONCAT('0x', SUBSTRING(TO_HEX(MD5(TO_JSON_STRING(STRUCT(`amount`)))), 1, 15)) AS INT64) DESC
  ) = 1
ORDER BY
  `user_id`;

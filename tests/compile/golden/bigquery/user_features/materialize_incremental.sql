SELECT
  `user_id`,
  `event_timestamp` AS `__event_ts`,
  `created_timestamp` AS `__created_ts`,
  `user_30d_purchase_count`,
  `user_lifetime_value`,
  `user_order_days`
FROM `my-project`.`fsql`.`user_features`
WHERE
  (
    NOT `user_id` IS NULL
    AND NOT `event_timestamp` IS NULL
    AND `event_timestamp` <= @end
  )
  AND `created_timestamp` >= @start
QUALIFY
  ROW_NUMBER() OVER (PARTITION BY `user_id` ORDER BY `event_timestamp` DESC, `created_timestamp` DESC) = 1
ORDER BY
  `user_id`;

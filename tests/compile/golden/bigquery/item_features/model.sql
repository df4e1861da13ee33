-- Running review statistics per item, plus its category.
with items as (
    select
        cast(item_id as bigint) as item_id,
        cast(category as varchar) as category,
        cast(listed_ts as timestamp) as listed_ts
    from __fsql_src__raw__items
),

reviews as (
    select
        cast(item_id as bigint) as item_id,
        (date_trunc('day', CAST(review_ts AS TIMESTAMP)) + INTERVAL 1 DAY) as day_end,
        cast(rating as bigint) as rating
    from __fsql_src__raw__reviews
),

-- Reviews are counted per UTC day, stamped at the end of the day like every daily bucket.
daily_reviews as (
    select
        item_id,
        day_end as event_timestamp,
        count(*) as review_count,
        sum(rating) as rating_sum
    from reviews
    group by item_id, day_end
),

-- An item is known from the moment it is listed, before any review: a zero-review row
-- then gives training rows its category and a count of 0 rather than all NULLs.
changes as (
    select item_id, listed_ts as event_timestamp, 0 as review_count, 0 as rating_sum
    from items
    union all
    select item_id, event_timestamp, review_count, rating_sum
    from daily_reviews
),

-- A listing made exactly at midnight shares a review day's end: one row per item and time.
per_time as (
    select
        item_id,
        event_timestamp,
        sum(review_count) as review_count,
        sum(rating_sum) as rating_sum
    from changes
    group by item_id, event_timestamp
),

running as (
    select
        item_id,
        event_timestamp,
        sum(review_count) over (
            partition by item_id
            order by event_timestamp
            rows between unbounded preceding and current row
        ) as review_count,
        sum(rating_sum) over (
            partition by item_id
            order by event_timestamp
            rows between unbounded preceding and current row
        ) as rating_sum
    from per_time
)

select
    running.item_id as item_id,
    running.event_timestamp as event_timestamp,
    -- Average of every review so far (not an average of daily averages); NULL until
    -- the first review.
    cast(running.rating_sum as double) / nullif(running.review_count, 0) as item_avg_rating,
    cast(running.review_count as bigint) as item_review_count,
    items.category as item_category
from running
-- Inner join: reviews of an item missing from the catalogue have no category to serve.
inner join items
    on items.item_id = running.item_id

-- The tables and function the bench/ workloads request (bench/run.sh, bench/memory.sh), on top
-- of scripts/seed.sql: 1,000 posts, authors with books (one-to-many embed), 20,000 items (the
-- 100-row filtered GET) and a scalar function (RPC).
INSERT INTO posts ("userId", content)
  SELECT 'user-bench', 'post ' || g FROM generate_series(1, 1000) g;
CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE books (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors (id), title text NOT NULL);
CREATE INDEX ON books (author_id);
INSERT INTO authors SELECT g, 'author ' || g FROM generate_series(1, 1000) g;
INSERT INTO books SELECT g, 1 + g % 1000, 'book ' || g FROM generate_series(1, 5000) g;
CREATE TABLE bench_items (id int PRIMARY KEY, category int NOT NULL, score int NOT NULL, name text NOT NULL);
INSERT INTO bench_items SELECT g, g % 10, g % 100, 'item ' || g FROM generate_series(1, 20000) g;
CREATE INDEX ON bench_items (category, score);
CREATE FUNCTION bench_add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b';

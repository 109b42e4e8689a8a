DROP INDEX "catalog"."products_search_idx";--> statement-breakpoint
DROP INDEX "catalog"."products_name_trgm_idx";--> statement-breakpoint
CREATE INDEX "products_name_words_idx" ON "catalog"."products" USING gin (to_tsvector('simple', "name")) WITH (fastupdate=false);--> statement-breakpoint
CREATE INDEX "products_search_idx" ON "catalog"."products" USING gin ("search") WITH (fastupdate=false);--> statement-breakpoint
CREATE INDEX "products_name_trgm_idx" ON "catalog"."products" USING gin ("name" gin_trgm_ops) WITH (fastupdate=false);
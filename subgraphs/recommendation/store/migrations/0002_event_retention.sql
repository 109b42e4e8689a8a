ALTER TABLE "recommendation"."order_events" ADD COLUMN "noted_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
CREATE INDEX "order_events_noted_at_idx" ON "recommendation"."order_events" USING btree ("noted_at");--> statement-breakpoint
CREATE INDEX "processed_messages_processed_at_idx" ON "recommendation"."processed_messages" USING btree ("processed_at");
CREATE TABLE "recommendation"."order_events" (
	"order_id" text PRIMARY KEY NOT NULL,
	"customer_id" text,
	"product_ids" text[],
	"confirmed" boolean DEFAULT false NOT NULL,
	"recorded" boolean DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE TABLE "recommendation"."processed_messages" (
	"consumer" text NOT NULL,
	"message_id" text NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "processed_messages_consumer_message_id_pk" PRIMARY KEY("consumer","message_id")
);

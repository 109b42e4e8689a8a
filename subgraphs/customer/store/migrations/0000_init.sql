CREATE SCHEMA "customer";
--> statement-breakpoint
CREATE TABLE "customer"."customers" (
	"id" text PRIMARY KEY NOT NULL,
	"email" text NOT NULL,
	"doc" jsonb NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "customers_email_lower_unique" ON "customer"."customers" USING btree (lower("email"));
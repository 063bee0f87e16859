output "commands_topic_arn" {
  description = "Publishers send PlaceOrder, CancelOrder and Restock here."
  value       = aws_sns_topic.this["commands"].arn
}

output "events_topic_arn" {
  description = "The relay publishes change events here."
  value       = aws_sns_topic.this["events"].arn
}

output "commands_queue_url" {
  value = aws_sqs_queue.main["commands"].url
}

output "commands_queue_arn" {
  value = aws_sqs_queue.main["commands"].arn
}

output "commands_queue_name" {
  value = aws_sqs_queue.main["commands"].name
}

output "commands_dlq_url" {
  value = aws_sqs_queue.dlq["commands"].url
}

output "commands_dlq_arn" {
  value = aws_sqs_queue.dlq["commands"].arn
}

output "commands_dlq_name" {
  value = aws_sqs_queue.dlq["commands"].name
}

output "projector_queue_url" {
  value = aws_sqs_queue.main["events"].url
}

output "projector_queue_arn" {
  value = aws_sqs_queue.main["events"].arn
}

output "projector_queue_name" {
  value = aws_sqs_queue.main["events"].name
}

output "projector_dlq_url" {
  value = aws_sqs_queue.dlq["events"].url
}

output "projector_dlq_arn" {
  value = aws_sqs_queue.dlq["events"].arn
}

output "projector_dlq_name" {
  value = aws_sqs_queue.dlq["events"].name
}

output "visibility_timeout_seconds" {
  description = "The main queues' visibility timeout, for the Lambda module's 6 x timeout check."
  value       = var.visibility_timeout_seconds
}

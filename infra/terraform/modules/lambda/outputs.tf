output "function_names" {
  value = { for k, f in aws_lambda_function.consumer : k => f.function_name }
}

output "function_arns" {
  value = { for k, f in aws_lambda_function.consumer : k => f.arn }
}

output "event_source_mapping_uuids" {
  value = { for k, m in aws_lambda_event_source_mapping.consumer : k => m.uuid }
}

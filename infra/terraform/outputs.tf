output "commands_topic_arn" {
  description = "Where publishers send commands (with the command_type message attribute)."
  value       = module.messaging.commands_topic_arn
}

output "events_topic_arn" {
  value = module.messaging.events_topic_arn
}

output "commands_queue_url" {
  value = module.messaging.commands_queue_url
}

output "commands_dlq_url" {
  value = module.messaging.commands_dlq_url
}

output "projector_queue_url" {
  value = module.messaging.projector_queue_url
}

output "projector_dlq_url" {
  value = module.messaging.projector_dlq_url
}

output "ecs_cluster_name" {
  value = module.ecs.cluster_name
}

output "ecs_service_names" {
  value = module.ecs.service_names
}

output "migrate_task_definition_arn" {
  description = "Run once per release before the services roll (aws ecs run-task ...; see infra/DEPLOYING.md)."
  value       = module.ecs.migrate_task_definition_arn
}

output "lambda_function_names" {
  value = local.on_lambda ? module.lambda[0].function_names : {}
}

output "task_security_group_id" {
  description = "Admit this group in the database's and Redis's security groups."
  value       = aws_security_group.tasks.id
}

output "role_arns" {
  value = merge(module.iam.task_role_arns, { execution = module.iam.execution_role_arn })
}

output "alarm_names" {
  value = module.alarms.alarm_names
}

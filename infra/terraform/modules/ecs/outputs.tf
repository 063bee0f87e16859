output "cluster_name" {
  value = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  value = aws_ecs_cluster.this.arn
}

output "service_names" {
  description = "ECS service name by role."
  value       = merge({ for k, s in aws_ecs_service.role : k => s.name }, { for s in aws_ecs_service.worker : "worker" => s.name })
}

output "migrate_task_definition_arn" {
  description = "Run once per release, before the services roll: `fulfil setup` (idempotent; applies the migrations)."
  value       = aws_ecs_task_definition.role["migrate"].arn
}

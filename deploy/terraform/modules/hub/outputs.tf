output "hub_role_arn" {
  description = "The hub role the spoke roles trust."
  value       = aws_iam_role.hub.arn
}

output "hub_role_name" {
  description = "The hub role's name (the spoke module's hub_role_name)."
  value       = aws_iam_role.hub.name
}

output "function_name" {
  description = "The Lambda function."
  value       = aws_lambda_function.hub.function_name
}

output "state" {
  description = "KEYWARDEN_STATE for the CLI."
  value       = "dynamodb://${aws_dynamodb_table.state.name}"
}

output "reports_s3" {
  description = "automation.reports_s3 for the policy; null without the reports bucket."
  value       = var.create_reports_bucket ? "s3://${aws_s3_bucket.reports[0].bucket}/reports" : null
}

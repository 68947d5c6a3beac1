output "read_role_arn" {
  description = "The read role (keywarden --role-name)."
  value       = aws_iam_role.read.arn
}

output "act_role_arn" {
  description = "The act role (keywarden --act-role-name); null when enable_act is false."
  value       = var.enable_act ? aws_iam_role.act[0].arn : null
}

variable "lambda_zip" {
  description = "Path of the function's zip (bootstrap, built as docs/lambda.md shows)."
  type        = string
}

variable "architecture" {
  description = "The function's architecture: arm64 or x86_64 (as GOARCH was)."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "schedule" {
  description = "The EventBridge schedule, rate(...) or cron(...) (the policy's automation.schedule)."
  type        = string
  default     = "rate(1 day)"
}

variable "name" {
  description = "The name of the hub role, the function and its log group; the spoke roles trust the role by this name."
  type        = string
  default     = "keywarden-hub"
}

variable "read_role_name" {
  description = "The spoke read role."
  type        = string
  default     = "KeywardenSpoke"
}

variable "act_role_name" {
  description = "The spoke act role."
  type        = string
  default     = "KeywardenSpokeAct"
}

variable "enable_act" {
  description = "Let the hub assume the act roles (enforce mode); false is report-only."
  type        = bool
  default     = true
}

variable "external_id" {
  description = "The external ID the spoke roles require, if any."
  type        = string
  default     = null
  sensitive   = true
}

variable "state_table_name" {
  description = "The DynamoDB state table (KEYWARDEN_STATE=dynamodb://TABLE)."
  type        = string
  default     = "keywarden-state"
}

variable "policy_file" {
  description = "Path of the policy file (keywarden.yaml), stored in SSM or S3 for the function."
  type        = string
}

variable "policy_store" {
  description = "Where the policy file is stored: ssm or s3."
  type        = string
  default     = "ssm"
  validation {
    condition     = contains(["ssm", "s3"], var.policy_store)
    error_message = "policy_store must be ssm or s3."
  }
}

variable "policy_parameter_name" {
  description = "The SSM parameter of the policy (policy_store = ssm)."
  type        = string
  default     = "/keywarden/policy"
}

variable "policy_bucket" {
  description = "An existing bucket for the policy (policy_store = s3); its key is keywarden/keywarden.yaml."
  type        = string
  default     = null
}

variable "create_reports_bucket" {
  description = "Create a bucket for the HTML and JSON reports (automation.reports_s3 = the reports_s3 output)."
  type        = bool
  default     = false
}

variable "sns_topic_arns" {
  description = "SNS topics the policy's sns channels publish to."
  type        = list(string)
  default     = []
}

variable "ses_identity_arns" {
  description = "SES identities the policy's ses channels send from."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "How long the function's logs are kept."
  type        = number
  default     = 90
}

variable "memory_size" {
  description = "The function's memory in MB."
  type        = number
  default     = 1024
}

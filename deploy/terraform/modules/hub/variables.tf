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
  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.name))
    error_message = "name must be an IAM role name: 1 to 64 letters, digits and +=,.@_-."
  }
}

variable "read_role_name" {
  description = "The spoke read role."
  type        = string
  default     = "KeywardenSpoke"
  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.read_role_name))
    error_message = "read_role_name must be an IAM role name: 1 to 64 letters, digits and +=,.@_-."
  }
}

variable "act_role_name" {
  description = "The spoke act role."
  type        = string
  default     = "KeywardenSpokeAct"
  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.act_role_name))
    error_message = "act_role_name must be an IAM role name: 1 to 64 letters, digits and +=,.@_-."
  }
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
  validation {
    # The parameter's ARN is ...:parameter followed by the name.
    condition     = can(regex("^/[A-Za-z0-9/_.-]+$", var.policy_parameter_name))
    error_message = "policy_parameter_name must be a parameter path that starts with /, such as /keywarden/policy."
  }
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

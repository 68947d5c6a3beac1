variable "hub_account_id" {
  description = "The account of the keywarden hub (where its Lambda function runs)."
  type        = string
  validation {
    condition     = can(regex("^[0-9]{12}$", var.hub_account_id))
    error_message = "hub_account_id must be a 12-digit account ID."
  }
}

variable "hub_role_name" {
  description = "The hub role's name; only it may assume the spoke roles."
  type        = string
  default     = "keywarden-hub"
  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.hub_role_name))
    error_message = "hub_role_name must be an IAM role name: 1 to 64 letters, digits and +=,.@_-."
  }
}

variable "organization_id" {
  description = "The AWS Organization's ID (aws:PrincipalOrgID of the hub role); null for a standalone account."
  type        = string
  default     = null
  validation {
    condition     = var.organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "organization_id must be an organization ID such as o-abcd123456, or null."
  }
}

variable "external_id" {
  description = "Optional sts:ExternalId the hub must present (KEYWARDEN_EXTERNAL_ID)."
  type        = string
  default     = null
  sensitive   = true
}

variable "read_role_name" {
  description = "The read role (keywarden --role-name)."
  type        = string
  default     = "KeywardenSpoke"
  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.read_role_name))
    error_message = "read_role_name must be an IAM role name: 1 to 64 letters, digits and +=,.@_-."
  }
}

variable "act_role_name" {
  description = "The act role (keywarden --act-role-name)."
  type        = string
  default     = "KeywardenSpokeAct"
  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.act_role_name))
    error_message = "act_role_name must be an IAM role name: 1 to 64 letters, digits and +=,.@_-."
  }
}

variable "enable_act" {
  description = "Create the act role; false is a report-only installation, without write permissions."
  type        = bool
  default     = true
}

variable "enable_rotation" {
  description = "Let the act role rotate keys (create a key, store it in Secrets Manager)."
  type        = bool
  default     = false
}

variable "enable_security_hub" {
  description = "Let the read role import findings into this account's Security Hub."
  type        = bool
  default     = false
}

variable "secret_name_prefix" {
  description = "The start of rotation.secret_name (keywarden/iam-user/{{.User}} by default)."
  type        = string
  default     = "keywarden/"
  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]+$", var.secret_name_prefix))
    error_message = "secret_name_prefix must be letters, digits and /_+=.@- (a secret name's start)."
  }
}

variable "rotation_kms_key_arn" {
  description = "Optional ARN of the KMS key of rotation.kms_key_id."
  type        = string
  default     = null
}

//! Every way a relay request can fail, mapped in one place to an HTTP status, a
//! stable `code` and a public message. The message never carries a key, a
//! credential, prompt text or an upstream body: the detail goes to the log (once,
//! at the pipeline boundary) and the client gets the request id to quote.

use actix_web::http::StatusCode;
use serde_json::json;

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum RelayError {
    #[error("missing relay key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>`")]
    MissingApiKey,
    #[error("invalid relay key: {0}")]
    InvalidApiKey(&'static str),
    #[error("this relay key has been revoked")]
    KeyRevoked,
    #[error("this relay key has expired")]
    KeyExpired,
    #[error("this relay key is suspended (an incident); an admin of the tenant can release it")]
    KeySuspended,
    #[error("request body is larger than the limit of {limit} bytes")]
    RequestTooLarge { limit: usize },
    #[error("{0}")]
    InvalidRequest(String),
    /// A field the chosen provider has no equivalent for (a cross-wire route).
    #[error(
        "`{param}` cannot be sent to {provider} providers: it has no equivalent there; leave it out, or route this model to a provider of the API the request is written for"
    )]
    UnsupportedParameter {
        /// The field, as a path (`messages[0].name`), sanitized for echoing.
        param: String,
        provider: crate::providers::ProviderKind,
    },
    #[error("this key may not use model `{0}`")]
    ModelNotAllowed(String),
    /// An unknown endpoint, or a model this key cannot reach.
    #[error("{0}")]
    NotFound(&'static str),
    #[error("requests from this address are not allowed for this key")]
    IpNotAllowed,
    /// The tenant's billing status is one the operator suspends service for.
    #[error(
        "this organisation's Airlock billing is suspended (a payment failed or the subscription ended); an owner can settle it on the console's billing page"
    )]
    BillingSuspended,
    #[error("{message}")]
    RateLimited {
        message: String,
        /// Whole seconds to wait, for `Retry-After`.
        retry_after_secs: u64,
    },
    #[error("budget exceeded: {0}")]
    BudgetExceeded(String),
    #[error("{0}")]
    ClassificationBlocked(String),
    #[error("the request contains {0}, which the data policy of its class blocks")]
    PiiBlocked(&'static str),
    #[error("the request was blocked by the injection screen ({0})")]
    InjectionBlocked(String),
    #[error("a policy check could not run, so the request was refused (request id in the header)")]
    PolicyUnavailable,
    /// The class's injection judge did not answer and its policy fails closed.
    #[error(
        "the injection judge did not answer in time, and this data class's policy refuses requests it has not judged"
    )]
    JudgeUnavailable,
    /// The provider answered 400, 404, 413 or 422. The status is logged with the
    /// request id, never shown: it would tell a tenant what listens at an address.
    #[error("the provider rejected the request")]
    UpstreamRejected(u16),
    /// Any other non-2xx answer, a redirect included (redirects are never followed).
    #[error("the provider returned an error")]
    UpstreamStatus(u16),
    #[error("the provider's answer was larger than the relay accepts")]
    UpstreamTooLarge,
    #[error(
        "the address of provider `{0}` is not allowed by this relay's egress policy; the operator allows internal destinations with relay.egress_allow"
    )]
    EgressDenied(String),
    #[error(
        "the provider `{0}` is configured with a base URL the relay cannot use; an admin must correct it"
    )]
    ProviderMisconfigured(String),
    #[error("this request came from an Airlock relay; a relay never calls itself")]
    LoopDetected,
    #[error(
        "model `{0}` has no price, and this key is under a budget or cost cap; an admin or finance member must add its price"
    )]
    ModelNotPriced(String),
    #[error(
        "the answer is longer than the output checks can hold ({limit} bytes), so it was not delivered"
    )]
    OutputTooLarge { limit: usize },
    #[error("the request body was not received in time")]
    BodyTimeout,
    #[error("the provider could not be reached")]
    UpstreamUnreachable,
    #[error("the provider sent a response Airlock could not read")]
    UpstreamProtocol,
    #[error("the provider stopped the stream before it finished")]
    UpstreamCut,
    #[error("the provider did not answer in time")]
    UpstreamTimeout,
    #[error("the provider `{0}` has no usable credential; an admin must set it again")]
    CredentialUnavailable(String),
    #[error("internal error")]
    Internal,
}

impl RelayError {
    pub fn status(&self) -> StatusCode {
        match self {
            RelayError::MissingApiKey
            | RelayError::InvalidApiKey(_)
            | RelayError::KeyRevoked
            | RelayError::KeyExpired
            | RelayError::KeySuspended => StatusCode::UNAUTHORIZED,
            RelayError::RequestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RelayError::BillingSuspended => StatusCode::PAYMENT_REQUIRED,
            RelayError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            RelayError::LoopDetected => StatusCode::LOOP_DETECTED,
            RelayError::InvalidRequest(_)
            | RelayError::UnsupportedParameter { .. }
            | RelayError::UpstreamRejected(_) => StatusCode::BAD_REQUEST,
            RelayError::NotFound(_) => StatusCode::NOT_FOUND,
            RelayError::ModelNotAllowed(_)
            | RelayError::IpNotAllowed
            | RelayError::EgressDenied(_)
            | RelayError::ModelNotPriced(_)
            | RelayError::ClassificationBlocked(_) => StatusCode::FORBIDDEN,
            RelayError::RateLimited { .. } | RelayError::BudgetExceeded(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            RelayError::PiiBlocked(_) | RelayError::InjectionBlocked(_) => StatusCode::BAD_REQUEST,
            RelayError::PolicyUnavailable | RelayError::JudgeUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            RelayError::UpstreamStatus(_)
            | RelayError::UpstreamUnreachable
            | RelayError::UpstreamProtocol
            | RelayError::UpstreamCut
            | RelayError::UpstreamTooLarge
            | RelayError::ProviderMisconfigured(_)
            | RelayError::OutputTooLarge { .. }
            | RelayError::CredentialUnavailable(_) => StatusCode::BAD_GATEWAY,
            RelayError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            RelayError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code (DESIGN.md lists them; clients match on these).
    pub fn code(&self) -> &'static str {
        match self {
            RelayError::MissingApiKey | RelayError::InvalidApiKey(_) => "invalid_api_key",
            RelayError::KeyRevoked => "key_revoked",
            RelayError::KeyExpired => "key_expired",
            RelayError::KeySuspended => "key_suspended",
            RelayError::RequestTooLarge { .. } => "request_too_large",
            RelayError::BodyTimeout => "request_timeout",
            RelayError::LoopDetected => "loop_detected",
            RelayError::EgressDenied(_) => "egress_denied",
            RelayError::ModelNotPriced(_) => "model_not_priced",
            RelayError::OutputTooLarge { .. } => "output_too_large",
            RelayError::InvalidRequest(_) | RelayError::UpstreamRejected(_) => "invalid_request",
            RelayError::UnsupportedParameter { .. } => "unsupported_parameter",
            RelayError::ModelNotAllowed(_) => "model_not_allowed",
            RelayError::NotFound(_) => "not_found",
            RelayError::IpNotAllowed => "ip_not_allowed",
            RelayError::BillingSuspended => "billing_suspended",
            RelayError::RateLimited { .. } => "rate_limit_exceeded",
            RelayError::BudgetExceeded(_) => "budget_exceeded",
            RelayError::ClassificationBlocked(_) => "classification_blocked",
            RelayError::PiiBlocked(_) => "pii_blocked",
            RelayError::InjectionBlocked(_) => "injection_blocked",
            RelayError::PolicyUnavailable => "policy_unavailable",
            RelayError::JudgeUnavailable => "injection_judge_unavailable",
            RelayError::UpstreamStatus(_)
            | RelayError::UpstreamUnreachable
            | RelayError::UpstreamProtocol
            | RelayError::UpstreamCut
            | RelayError::UpstreamTooLarge
            | RelayError::ProviderMisconfigured(_)
            | RelayError::CredentialUnavailable(_) => "upstream_error",
            RelayError::UpstreamTimeout => "upstream_timeout",
            RelayError::Internal => "internal_error",
        }
    }

    /// The OpenAI `type` field.
    fn openai_type(&self) -> &'static str {
        match self.status().as_u16() {
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            400 | 404 | 408 | 413 => "invalid_request_error",
            429 => match self {
                RelayError::BudgetExceeded(_) => "insufficient_quota",
                _ => "rate_limit_error",
            },
            _ => "api_error",
        }
    }

    /// The Anthropic `error.type` field.
    fn anthropic_type(&self) -> &'static str {
        match self.status().as_u16() {
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            413 => "request_too_large",
            404 => "not_found_error",
            400 | 408 => "invalid_request_error",
            429 => "rate_limit_error",
            504 | 502 => "api_error",
            _ => "api_error",
        }
    }

    fn public_message(&self, request_id: &str) -> String {
        if self.status().is_server_error() {
            format!("{self} (request id {request_id})")
        } else {
            self.to_string()
        }
    }

    /// `{"error": {"message", "type", "param", "code"}}` as the OpenAI API answers.
    pub fn openai_body(&self, request_id: &str) -> serde_json::Value {
        json!({
            "error": {
                "message": self.public_message(request_id),
                "type": self.openai_type(),
                "param": match self {
                    RelayError::UnsupportedParameter { param, .. } => json!(param),
                    _ => serde_json::Value::Null,
                },
                "code": self.code(),
            }
        })
    }

    /// `{"type": "error", "error": {"type", "message"}}` as the Anthropic API answers,
    /// with our stable code beside it.
    pub fn anthropic_body(&self, request_id: &str) -> serde_json::Value {
        json!({
            "type": "error",
            "error": {
                "type": self.anthropic_type(),
                "message": self.public_message(request_id),
                "code": self.code(),
                "param": match self {
                    RelayError::UnsupportedParameter { param, .. } => json!(param),
                    _ => serde_json::Value::Null,
                },
            },
            "request_id": request_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_carry_the_request_id_but_no_detail() {
        let body = RelayError::UpstreamStatus(500).openai_body("req_1");
        assert_eq!(body["error"]["code"], "upstream_error");
        assert_eq!(
            body["error"]["message"],
            "the provider returned an error (request id req_1)"
        );
        // The upstream's status is for the log only.
        assert!(
            !RelayError::UpstreamRejected(404)
                .to_string()
                .contains("404")
        );
    }

    #[test]
    fn auth_errors_map_to_the_sdk_authentication_types() {
        let e = RelayError::InvalidApiKey("bad checksum");
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(e.openai_body("r")["error"]["type"], "authentication_error");
        assert_eq!(
            e.anthropic_body("r")["error"]["type"],
            "authentication_error"
        );
    }
}

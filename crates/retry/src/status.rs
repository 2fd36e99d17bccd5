//! HTTP status rules: which answers are worth another attempt.

/// What an HTTP status says about retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusClass {
    /// 2xx: done.
    Success,
    /// Worth another attempt: 5xx and the rule's retry codes (429 at least).
    Retryable,
    /// Retrying the same request cannot help (other statuses: 400, 401, 403, 413, 3xx).
    Permanent,
}

/// The status-code rule, after Alertmanager's `notify.Retrier`: 5xx is retryable, plus a
/// fixed list of codes (429 by default); everything else that is not 2xx is permanent.
/// Authentication failures (401, 403) are permanent: a retry would send the same
/// credentials. A protocol that names its retryable codes exactly (OTLP) uses
/// [`Retrier::exactly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retrier {
    retry_codes: &'static [u16],
    server_errors: bool,
}

impl Default for Retrier {
    fn default() -> Retrier {
        Retrier::DEFAULT
    }
}

impl Retrier {
    /// 5xx and 429 are retryable.
    pub const DEFAULT: Retrier = Retrier { retry_codes: &[429], server_errors: true };

    /// 5xx and `codes` are retryable (e.g. `&[408, 429]` for stores that document 408 as
    /// transient).
    pub const fn with_codes(codes: &'static [u16]) -> Retrier {
        Retrier { retry_codes: codes, server_errors: true }
    }

    /// Only `codes` are retryable; other 5xx are permanent too (OTLP: `&[429, 502, 503, 504]`).
    pub const fn exactly(codes: &'static [u16]) -> Retrier {
        Retrier { retry_codes: codes, server_errors: false }
    }

    /// Classifies `status`.
    pub fn check(&self, status: u16) -> StatusClass {
        if (200..300).contains(&status) {
            StatusClass::Success
        } else if (self.server_errors && (500..600).contains(&status)) || self.retry_codes.contains(&status) {
            StatusClass::Retryable
        } else {
            StatusClass::Permanent
        }
    }

    /// Whether `status` is worth another attempt.
    pub fn is_retryable(&self, status: u16) -> bool {
        self.check(status) == StatusClass::Retryable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rule() {
        let r = Retrier::DEFAULT;
        for (status, class) in [
            (200, StatusClass::Success),
            (204, StatusClass::Success),
            (302, StatusClass::Permanent),
            (400, StatusClass::Permanent),
            (401, StatusClass::Permanent),
            (403, StatusClass::Permanent),
            (408, StatusClass::Permanent),
            (413, StatusClass::Permanent),
            (429, StatusClass::Retryable),
            (500, StatusClass::Retryable),
            (503, StatusClass::Retryable),
            (599, StatusClass::Retryable),
        ] {
            assert_eq!(r.check(status), class, "{status}");
        }
    }

    #[test]
    fn extra_codes() {
        let r = Retrier::with_codes(&[408, 429]);
        assert!(r.is_retryable(408));
        assert!(r.is_retryable(429));
        assert!(r.is_retryable(502));
        assert!(!r.is_retryable(404));
        let r = Retrier::exactly(&[429, 503]);
        assert!(r.is_retryable(503));
        assert!(!r.is_retryable(500));
        assert!(!r.is_retryable(408));
    }
}

//! Integration tests of the receivers against in-process HTTP fakes written from each
//! service's published API docs, and against a real SMTP server (aiosmtpd).

mod alertmanager;
mod config;
mod delivery;
mod email;
mod opsgenie;
mod pagerduty;
mod slack;
mod support;
mod webhook;

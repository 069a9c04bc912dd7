//! End-to-end tests: the real `n8n-work` binary, as a user runs it.

mod access;
mod api;
mod chaos;
mod node_cli;
mod oauth2;
mod oidc;
mod polling;
mod registry;
mod scale;
mod security;
mod serve;
mod ui;
mod workflow_cli;

//! Asterisk Manager Interface: the wire format (`parser`), the mapping of
//! `app_queue` events to ours (`mapper`) and the connection (`client`).

pub mod client;
pub mod mapper;
pub mod parser;

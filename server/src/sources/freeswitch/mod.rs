//! FreeSWITCH's `mod_callcenter` over the event socket (inbound ESL):
//! `client` holds the connection, `parser` reads the wire format, `mapper` turns `mod_callcenter`'s
//! events into ours.

pub mod client;
pub mod mapper;
pub mod parser;

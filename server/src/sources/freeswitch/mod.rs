//! FreeSWITCH's `mod_callcenter` over the event socket (inbound ESL):
//! `parser` reads the wire format, `mapper` turns `mod_callcenter`'s
//! events into ours.

pub mod mapper;
pub mod parser;

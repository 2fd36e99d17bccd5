//! Not a fuzz target: a tool that turns the OTLP/JSON seeds into OTLP/protobuf seeds
//! (`seeds/otlp_protobuf/`), through the same decoders Lookout uses. Run it on files:
//!
//!     LOOKOUT_FUZZ_SEED_OUT=fuzz/seeds/otlp_protobuf \
//!       fuzz/target/x86_64-unknown-linux-gnu/release/seed_json_to_protobuf fuzz/seeds/otlp_json/*.json
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lookout_fuzz::seed_json_to_protobuf(data));

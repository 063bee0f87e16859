//! One reading of Redis failures, shared by the lock and the stock cache. Two kinds hold the
//! worker's batches rather than fail their messages: Redis unreachable (I/O, refused, timed
//! out), and Redis out of memory (`maxmemory` reached under the `noeviction` policy), which
//! still answers reads and PING but refuses every write with an error starting `OOM`.

use redis::RedisError;

/// What an out-of-memory refusal means, for error messages.
pub const OUT_OF_MEMORY: &str =
    "Redis is out of memory (maxmemory reached under the noeviction policy: writes refused)";

/// Redis cannot be reached or did not answer.
pub fn is_unreachable(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal()
}

/// Redis refused a write for want of memory (also when a script's write was refused).
pub fn is_out_of_memory(e: &RedisError) -> bool {
    e.code() == Some("OOM")
}

/// Either of the two: the dependency is down for writes, whatever the command.
pub fn is_outage(e: &RedisError) -> bool {
    is_unreachable(e) || is_out_of_memory(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(reply: &str) -> RedisError {
        let parsed = redis::parse_redis_value(reply.as_bytes()).expect("a RESP reply");
        let redis::Value::ServerError(error) = parsed else {
            panic!("{reply:?} is not an error reply: {parsed:?}");
        };
        error.into()
    }

    #[test]
    fn an_oom_reply_even_from_a_script_is_out_of_memory_and_an_outage() {
        let from_script = server_error(
            "-OOM command not allowed when used memory > 'maxmemory'. script: 9ed1, on @user_script:1.\r\n",
        );
        assert!(is_out_of_memory(&from_script));
        assert!(is_outage(&from_script));
    }

    #[test]
    fn a_script_error_or_a_wrong_type_is_neither() {
        for reply in [
            "-ERR value is not an integer or out of range\r\n",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ] {
            let error = server_error(reply);
            assert!(!is_outage(&error), "{reply}");
        }
    }
}

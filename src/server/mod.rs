//! Threads, mio polls, connections and buffers.

// unit: DispatcherSession's endpoint list (failover order, round robin). No socket is opened.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "worker/dispatcher_session.hpp"

using ff::worker::DispatcherSession;

TEST_CASE("dispatcher session: endpoints in failover order, round robin, at least one") {
  zmq::context_t ctx(1);
  DispatcherSession s(ctx, std::vector<std::string>{"tcp://a:1", "tcp://b:2", "tcp://c:3"}, 1000);
  CHECK(s.endpoint() == "tcp://a:1");
  CHECK_FALSE(s.connected());
  s.next_endpoint();
  CHECK(s.endpoint() == "tcp://b:2");
  s.next_endpoint();
  CHECK(s.endpoint() == "tcp://c:3");
  s.next_endpoint();
  CHECK(s.endpoint() == "tcp://a:1");  // wraps around

  DispatcherSession one(ctx, std::string("tcp://only:1"), 1000);  // the one-endpoint form
  one.next_endpoint();
  CHECK(one.endpoint() == "tcp://only:1");

  CHECK_THROWS_WITH_AS(DispatcherSession(ctx, std::vector<std::string>{}, 1000),
                       "dispatcher session: no dispatcher endpoint", std::invalid_argument);
}

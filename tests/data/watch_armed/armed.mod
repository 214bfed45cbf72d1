COMMENT
A WATCH armed by INITIAL's zero-delay self-event counts the times its
condition turns true. Written for nmlcell's tests: NEURON arms a WATCH with
its condition's value, so one already true at arming does not fire.
ENDCOMMENT

NEURON { POINT_PROCESS Armed RANGE n, thresh }
PARAMETER { thresh = -70 (mV) }
ASSIGNED { v (mV) n }
INITIAL { n = 0 net_send(0, 1) }
NET_RECEIVE (w) {
  if (flag == 1) { WATCH (v > thresh) 2 }
  else if (flag == 2) { n = n + 1 }
}

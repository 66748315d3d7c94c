/*
 * LD_PRELOAD shim: force TCP_NODELAY on every outgoing TCP connection.
 *
 * The node process (actor runtime) talks to the local rivet-engine over TCP
 * with small messages; Nagle + delayed ACK add ~40 ms to every round trip.
 * harness.py builds this at runtime with
 *     cc -shared -fPIC -O2 -o nodelay.so nodelay.c -ldl
 * and sets LD_PRELOAD for the node process only.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
	static int (*real_connect)(int, const struct sockaddr *, socklen_t);
	if (!real_connect)
		real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	if (addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
		int type = 0;
		socklen_t tlen = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
	}
	return real_connect(fd, addr, len);
}

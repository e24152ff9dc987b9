/* Integration tests of the connection and server commands: PING/ECHO/QUIT/
 * RESET/HELLO/AUTH/SELECT, CLIENT, INFO, CONFIG, COMMAND, TIME/LASTSAVE/
 * DBSIZE, DEBUG, SLOWLOG, MONITOR, SHUTDOWN and signals, requirepass and
 * protected mode. Every expectation was checked against redis-server 7.0
 * (KR_SERVER=/usr/bin/redis-server KR_SERVER_KIND=redis); keyrail-only checks
 * (INFO shards) are skipped there.
 *
 * hiredis 0.14 (Debian 12) cannot parse RESP3, so RESP3 and exact-byte checks
 * go through the small raw-socket reader below. */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- raw RESP2/RESP3 over a plain socket ---- */

/* Length of the first complete RESP2/RESP3 value in buf, 0 if incomplete,
 * -1 if malformed. */
/* Reads until nreplies complete values arrived; returns them concatenated
 * (malloc'd, NUL-terminated). Asserts on EOF/timeout before that. */
/* ---- helpers on top of the harness ---- */

static struct kr_srv srv;

static void start_default(void) { kr_srv_start(&srv, NULL); }
static void stop_server(void) { kr_srv_stop(&srv); }

/* Value of "name:" in INFO <section>, as text (static buffer) or NULL. */
static const char *info_str(redisContext *c, const char *section, const char *name)
{
	static char val[512];
	redisReply *r = kr_cmd(c, "INFO %s", section);
	cr_assert(r->type == REDIS_REPLY_STRING, "INFO %s: not a bulk string", section);
	char key[128];
	snprintf(key, sizeof(key), "%s:", name);
	const char *p = r->str;
	const char *found = NULL;
	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, strlen(key)) == 0) {
			found = p + strlen(key);
			break;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	if (found != NULL) {
		size_t n = strcspn(found, "\r\n");
		if (n >= sizeof(val))
			n = sizeof(val) - 1;
		memcpy(val, found, n);
		val[n] = '\0';
	}
	freeReplyObject(r);
	return found != NULL ? val : NULL;
}

static long long info_int(redisContext *c, const char *section, const char *name)
{
	const char *v = info_str(c, section, name);
	cr_assert(v != NULL, "INFO %s has no field %s", section, name);
	char *end;
	long long n = strtoll(v, &end, 10);
	cr_assert(end != v && *end == '\0', "INFO field %s is not an integer: %s", name, v);
	return n;
}

/* Polls INFO clients until connected_clients == want (bounded: a closed
 * connection is noticed by the server asynchronously). */
static void wait_clients(redisContext *c, long long want)
{
	long long got = -1;
	for (int i = 0; i < 200 && got != want; i++) {
		got = info_int(c, "clients", "connected_clients");
		if (got != want)
			kr_sleep_ms(20);
	}
	cr_assert_eq(got, want, "connected_clients: expected %lld, got %lld", want, got);
}

/* A field "name=value" of a CLIENT INFO/LIST line, copied into out. */
static int client_field(const char *line, const char *name, char *out, size_t outlen)
{
	char key[64];
	snprintf(key, sizeof(key), " %s=", name);
	const char *p = strncmp(line, key + 1, strlen(key + 1)) == 0 ? line - 1 : strstr(line, key);
	if (p == NULL)
		return 0;
	p += strlen(key);
	size_t n = strcspn(p, " \r\n");
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 1;
}

static void my_client_field(redisContext *c, const char *name, char *out, size_t outlen)
{
	redisReply *r = kr_cmd(c, "CLIENT INFO");
	cr_assert_eq(r->type, REDIS_REPLY_STRING, "CLIENT INFO: not a bulk string");
	cr_assert(client_field(r->str, name, out, outlen), "CLIENT INFO has no %s=: %s", name, r->str);
	freeReplyObject(r);
}

static void skip_on_redis(const char *why)
{
	if (srv.is_redis) {
		/* Criterion does not run .fini for a skipped test. */
		kr_srv_stop(&srv);
		cr_skip_test("keyrail only: %s", why);
	}
}

/* For Redis features keyrail has not built yet: the test still runs
 * against redis-server, so it is ready for the milestone that adds them. */
static void skip_on_keyrail(const char *why)
{
	if (!srv.is_redis) {
		kr_srv_stop(&srv);
		cr_skip_test("not in keyrail yet: %s", why);
	}
}

static void expect_closed(redisContext *c, const char *cmd)
{
	redisReply *r = redisCommand(c, cmd);
	cr_assert(r == NULL, "command %s on a connection the server closed: expected no reply, got type %d",
		  cmd, r != NULL ? r->type : -1);
}

static void expect_config(redisContext *c, const char *name, const char *want)
{
	redisReply *r = kr_cmd(c, "CONFIG GET %s", name);
	int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && strcmp(r->element[0]->str, name) == 0 &&
		 strcmp(r->element[1]->str, want) == 0;
	char gotbuf[256] = "(not a pair)";
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2)
		snprintf(gotbuf, sizeof(gotbuf), "[%s, %s]", r->element[0]->str, r->element[1]->str);
	size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
	freeReplyObject(r);
	cr_assert(ok, "CONFIG GET %s: expected [%s, %s], got %zu elements: %s", name, name, want, n, gotbuf);
}

/* ---- connection commands ---- */

TestSuite(server, .init = start_default, .fini = stop_server, .timeout = 120);

Test(server, ping_echo)
{
	redisContext *c = kr_connect(&srv);
	kr_status(c, "PONG", "PING");
	kr_bulk(c, "hello world", "PING %s", "hello world");
	kr_err(c, "ERR wrong number of arguments for 'ping' command", "PING a b");
	kr_bulk(c, "", "ECHO %s", "");
	kr_bulk(c, "a\r\nb", "ECHO %b", "a\r\nb", (size_t)4);
	kr_err(c, "ERR wrong number of arguments for 'echo' command", "ECHO");
	kr_err(c, "ERR wrong number of arguments for 'echo' command", "ECHO a b");
	/* Command names are case-insensitive. */
	kr_status(c, "PONG", "pInG");
	redisFree(c);
}

Test(server, quit_closes_after_ok)
{
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "QUIT");
	expect_closed(c, "PING");
	redisFree(c);
	/* The server itself is fine. */
	c = kr_connect(&srv);
	kr_status(c, "PONG", "PING");
	redisFree(c);
}

Test(server, reset_restores_defaults)
{
	int fd = kr_raw_connect(&srv);
	kr_raw_expect(fd, "SELECT 2\r\nSET rk v\r\nCLIENT SETNAME nm\r\n", 3, "+OK\r\n+OK\r\n+OK\r\n");
	size_t n;
	kr_raw_sends(fd, "HELLO 3\r\n");
	free(kr_raw_read(fd, 1, &n));
	kr_raw_expect(fd, "GET nokey\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "RESET\r\n", 1, "+RESET\r\n");
	/* Back to RESP2, db 0, no name. */
	kr_raw_expect(fd, "GET nokey\r\nGET rk\r\nCLIENT GETNAME\r\n", 3, "$-1\r\n$-1\r\n$-1\r\n");
	kr_raw_sends(fd, "CLIENT INFO\r\n");
	char *info = kr_raw_read(fd, 1, &n);
	char v[64];
	cr_assert(client_field(info, "db", v, sizeof(v)) && strcmp(v, "0") == 0, "db after RESET: %s", info);
	cr_assert(client_field(info, "resp", v, sizeof(v)) && strcmp(v, "2") == 0, "resp after RESET: %s", info);
	free(info);
	kr_raw_expect(fd, "SELECT 2\r\nGET rk\r\n", 2, "+OK\r\n$1\r\nv\r\n");
	close(fd);
}

/* Checks a HELLO reply given as RESP2 flat array. */
static void check_hello2(redisReply *r, long long want_id)
{
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "HELLO 2: not an array");
	cr_assert_eq(r->elements, 14, "HELLO 2: expected 7 fields, got %zu elements", r->elements);
	static const char *const names[] = { "server", "version", "proto", "id", "mode", "role", "modules" };
	for (size_t i = 0; i < 7; i++) {
		redisReply *k = r->element[2 * i], *v = r->element[2 * i + 1];
		cr_assert(k->type == REDIS_REPLY_STRING && strcmp(k->str, names[i]) == 0,
			  "HELLO field %zu: expected %s", i, names[i]);
		switch (i) {
		case 0: case 1:
			cr_assert(v->type == REDIS_REPLY_STRING && v->len > 0, "HELLO %s: not a string", names[i]);
			break;
		case 2:
			cr_assert(v->type == REDIS_REPLY_INTEGER && v->integer == 2, "HELLO proto != 2");
			break;
		case 3:
			cr_assert(v->type == REDIS_REPLY_INTEGER && v->integer == want_id,
				  "HELLO id %lld != CLIENT ID %lld", v->integer, want_id);
			break;
		case 4:
			cr_assert(v->type == REDIS_REPLY_STRING && strcmp(v->str, "standalone") == 0,
				  "HELLO mode: %s", v->str);
			break;
		case 5:
			cr_assert(v->type == REDIS_REPLY_STRING && strcmp(v->str, "master") == 0,
				  "HELLO role: %s", v->str);
			break;
		case 6:
			cr_assert(v->type == REDIS_REPLY_ARRAY, "HELLO modules: not an array");
			break;
		}
	}
}

Test(server, hello)
{
	redisContext *c = kr_connect(&srv);
	redisReply *id = kr_cmd(c, "CLIENT ID");
	cr_assert_eq(id->type, REDIS_REPLY_INTEGER);
	redisReply *r = kr_cmd(c, "HELLO 2");
	check_hello2(r, id->integer);
	freeReplyObject(r);
	r = kr_cmd(c, "HELLO");
	check_hello2(r, id->integer);
	freeReplyObject(r);
	if (srv.is_redis) {
		r = kr_cmd(c, "HELLO");
		cr_assert_str_eq(r->element[1]->str, "redis");
		freeReplyObject(r);
	}
	freeReplyObject(id);
	kr_err(c, "NOPROTO unsupported protocol version", "HELLO 4");
	kr_err(c, "NOPROTO unsupported protocol version", "HELLO 1");
	kr_err(c, "ERR Protocol version is not an integer or out of range", "HELLO abc");
	kr_status(c, "PONG", "PING");
	redisFree(c);

	/* RESP3: a map with proto 3, and RESP3 nulls afterwards. */
	int fd = kr_raw_connect(&srv);
	size_t n;
	kr_raw_sends(fd, "HELLO 3 SETNAME h3\r\n");
	char *h = kr_raw_read(fd, 1, &n);
	cr_assert(strncmp(h, "%7\r\n$6\r\nserver\r\n", 16) == 0, "HELLO 3 is not a 7-field map: %s", h);
	cr_assert(strstr(h, "$5\r\nproto\r\n:3\r\n") != NULL, "HELLO 3 proto: %s", h);
	cr_assert(strstr(h, "$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
			    "$7\r\nmodules\r\n*0\r\n") != NULL, "HELLO 3 mode/role/modules: %s", h);
	free(h);
	kr_raw_expect(fd, "CLIENT GETNAME\r\nGET nokey\r\n", 2, "$2\r\nh3\r\n_\r\n");
	kr_raw_expect(fd, "HELLO 4\r\n", 1, "-NOPROTO unsupported protocol version\r\n");
	close(fd);
}

/* ---- AUTH / requirepass ---- */

static void start_with_pass(void)
{
	static const char *const args[] = { "--requirepass", "s3cret", NULL };
	kr_srv_start(&srv, args);
}

TestSuite(auth, .init = start_with_pass, .fini = stop_server, .timeout = 60);

Test(auth, noauth_until_auth)
{
	redisContext *c = kr_connect(&srv);
	kr_err(c, "NOAUTH Authentication required.", "GET k");
	kr_err(c, "NOAUTH Authentication required.", "PING");
	kr_err(c, "NOAUTH Authentication required.", "SET k v");
	kr_err(c, "NOAUTH", "HELLO 3");
	kr_err(c, "WRONGPASS invalid username-password pair or user is disabled.", "AUTH wrong");
	kr_err(c, "WRONGPASS invalid username-password pair or user is disabled.", "AUTH default wrong");
	kr_err(c, "NOAUTH Authentication required.", "GET k");
	kr_ok(c, "AUTH s3cret");
	kr_ok(c, "SET k v");
	kr_bulk(c, "v", "GET k");
	redisFree(c);

	/* The two-argument form with the default user works too; RESET
	 * forgets the authentication. */
	c = kr_connect(&srv);
	kr_ok(c, "AUTH default s3cret");
	kr_bulk(c, "v", "GET k");
	kr_status(c, "RESET", "RESET");
	kr_err(c, "NOAUTH Authentication required.", "GET k");
	redisFree(c);

	/* QUIT needs no authentication. */
	c = kr_connect(&srv);
	kr_ok(c, "QUIT");
	redisFree(c);
}

Test(auth, hello_auth_setname)
{
	int fd = kr_raw_connect(&srv);
	kr_raw_expect(fd, "HELLO 3 AUTH default wrong\r\n", 1,
		   "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
	kr_raw_expect(fd, "GET k\r\n", 1, "-NOAUTH Authentication required.\r\n");
	size_t n;
	kr_raw_sends(fd, "HELLO 3 AUTH default s3cret SETNAME myname\r\n");
	char *h = kr_raw_read(fd, 1, &n);
	cr_assert(strncmp(h, "%7\r\n", 4) == 0 && strstr(h, "$5\r\nproto\r\n:3\r\n") != NULL,
		  "HELLO 3 AUTH: %s", h);
	free(h);
	kr_raw_expect(fd, "CLIENT GETNAME\r\nGET k\r\n", 2, "$6\r\nmyname\r\n_\r\n");
	close(fd);
}

Test(auth, unauthenticated_protocol_limits)
{
	/* Before AUTH, big multibulk/bulk headers are refused and the
	 * connection is closed. */
	int fd = kr_raw_connect(&srv);
	kr_raw_expect(fd, "*1048577\r\n", 1, "-ERR Protocol error: unauthenticated multibulk length\r\n");
	cr_assert(kr_raw_closed(fd), "connection not closed after a protocol error");
	close(fd);
	fd = kr_raw_connect(&srv);
	kr_raw_expect(fd, "*2\r\n$100000\r\n", 1, "-ERR Protocol error: unauthenticated bulk length\r\n");
	cr_assert(kr_raw_closed(fd), "connection not closed after a protocol error");
	close(fd);
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "AUTH s3cret");
	kr_status(c, "PONG", "PING");
	redisFree(c);
}

Test(server, auth_without_password)
{
	redisContext *c = kr_connect(&srv);
	kr_err(c, "ERR AUTH <password> called without any password configured for the default user. "
		  "Are you sure your configuration is correct?", "AUTH foo");
	/* The default user has nopass: any password is accepted. */
	kr_ok(c, "AUTH default foo");
	kr_status(c, "PONG", "PING");
	redisFree(c);
}

static char conf_dir[64];

static void stop_server_and_conf(void)
{
	kr_srv_stop(&srv);
	if (conf_dir[0] != '\0') {
		char path[96];
		snprintf(path, sizeof(path), "%s/keyrail.conf", conf_dir);
		unlink(path);
		rmdir(conf_dir);
	}
}

TestSuite(config_file, .fini = stop_server_and_conf, .timeout = 60);

/* requirepass given in a config file (first argument) rather than flags. */
Test(config_file, requirepass_from_file)
{
	snprintf(conf_dir, sizeof(conf_dir), "/tmp/kr-itest-conf-XXXXXX");
	cr_assert(mkdtemp(conf_dir) != NULL);
	char path[96];
	snprintf(path, sizeof(path), "%s/keyrail.conf", conf_dir);
	FILE *f = fopen(path, "w");
	cr_assert(f != NULL);
	fputs("# test config\nrequirepass \"from file\"\n\nslowlog-max-len 99\n", f);
	fclose(f);
	const char *const args[] = { path, NULL };
	kr_srv_start(&srv, args);
	redisContext *c = kr_connect(&srv);
	kr_err(c, "NOAUTH Authentication required.", "GET k");
	kr_err(c, "WRONGPASS", "AUTH from");
	kr_ok(c, "AUTH %s", "from file");
	expect_config(c, "slowlog-max-len", "99");
	expect_config(c, "requirepass", "from file");
	redisFree(c);
	int st = kr_srv_stop(&srv);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
}

/* protected-mode only refuses non-loopback clients; from 127.0.0.1 with no
 * password everything works. */
Test(config_file, protected_mode_allows_loopback)
{
	kr_skip_over_dpdk("its clients come from the tap's 198.18.0.1, not loopback "
			  "(tests/integration/protected_mode.sh covers that side)");
	const char *const args[] = { "--protected-mode", "yes", NULL };
	kr_srv_start(&srv, args);
	redisContext *c = kr_connect(&srv);
	redisReply *r = kr_cmd(c, "CONFIG GET protected-mode");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
			  strcmp(r->element[1]->str, "yes") == 0, "protected-mode not yes");
	freeReplyObject(r);
	kr_ok(c, "SET pm 1");
	kr_int(c, 2, "INCR pm");
	redisFree(c);
	kr_srv_stop(&srv);
}

/* ---- SELECT ---- */

Test(server, select)
{
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "SET k db0");
	kr_ok(c, "SELECT 15");
	kr_nil(c, "GET k");
	kr_ok(c, "SET k db15");
	kr_ok(c, "SELECT 0");
	kr_bulk(c, "db0", "GET k");
	kr_err(c, "ERR DB index is out of range", "SELECT 16");
	kr_err(c, "ERR DB index is out of range", "SELECT -1");
	kr_err(c, "ERR value is not an integer or out of range", "SELECT abc");
	kr_err(c, "ERR wrong number of arguments for 'select' command", "SELECT");
	/* A failed SELECT leaves the current db alone. */
	kr_bulk(c, "db0", "GET k");
	kr_ok(c, "SELECT 15");
	kr_bulk(c, "db15", "GET k");
	kr_int(c, 1, "DBSIZE");
	redisFree(c);
}

/* ---- CLIENT ---- */

Test(server, client_id_name_list_info)
{
	redisContext *c = kr_connect(&srv);
	redisContext *c2 = kr_connect(&srv);
	redisReply *id = kr_cmd(c, "CLIENT ID");
	redisReply *id2 = kr_cmd(c2, "CLIENT ID");
	cr_assert(id->type == REDIS_REPLY_INTEGER && id->integer > 0);
	cr_assert(id2->type == REDIS_REPLY_INTEGER && id2->integer > 0 && id2->integer != id->integer,
		  "client ids not distinct");
	kr_int(c, id->integer, "CLIENT ID");

	kr_nil(c, "CLIENT GETNAME");
	kr_ok(c, "CLIENT SETNAME first");
	kr_bulk(c, "first", "CLIENT GETNAME");
	kr_err(c, "ERR Client names cannot contain spaces, newlines or special characters.",
	       "CLIENT SETNAME %s", "a b");
	kr_err(c, "ERR Client names cannot contain spaces, newlines or special characters.",
	       "CLIENT SETNAME %s", "a\nb");
	kr_bulk(c, "first", "CLIENT GETNAME");
	/* An empty name clears it. */
	kr_ok(c, "CLIENT SETNAME %s", "");
	kr_nil(c, "CLIENT GETNAME");
	kr_ok(c, "CLIENT SETNAME first");
	kr_ok(c2, "CLIENT SETNAME second");

	wait_clients(c, 2);
	/* addr= is the client's side of the connection: loopback, or the
	 * tap's kernel address when the server runs over DPDK. */
	struct sockaddr_in me;
	socklen_t melen = sizeof(me);
	char me_ip[INET_ADDRSTRLEN], want_addr[64];
	cr_assert(getsockname(c->fd, (struct sockaddr *)&me, &melen) == 0, "getsockname: %s", strerror(errno));
	cr_assert(inet_ntop(AF_INET, &me.sin_addr, me_ip, sizeof(me_ip)) != NULL);
	snprintf(want_addr, sizeof(want_addr), "addr=%s:", me_ip);
	redisReply *list = kr_cmd(c, "CLIENT LIST");
	cr_assert_eq(list->type, REDIS_REPLY_STRING);
	int lines = 0, seen1 = 0, seen2 = 0;
	for (char *line = list->str; line != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n');
		if (nl != NULL)
			*nl = '\0';
		char v[64], name[64];
		lines++;
		cr_assert(client_field(line, "id", v, sizeof(v)), "CLIENT LIST line without id: %s", line);
		cr_assert(client_field(line, "name", name, sizeof(name)), "no name=: %s", line);
		cr_assert(strstr(line, want_addr) != NULL, "no %s: %s", want_addr, line);
		if (atoll(v) == id->integer) {
			seen1 = 1;
			cr_assert_str_eq(name, "first");
			cr_assert(strstr(line, "cmd=client|list") != NULL, "own cmd field: %s", line);
		}
		if (atoll(v) == id2->integer) {
			seen2 = 1;
			cr_assert_str_eq(name, "second");
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	cr_assert(lines == 2 && seen1 && seen2, "CLIENT LIST: %d lines, saw ids %d %d: %s", lines, seen1,
		  seen2, list->str);
	freeReplyObject(list);

	redisReply *info = kr_cmd(c, "CLIENT INFO");
	cr_assert_eq(info->type, REDIS_REPLY_STRING);
	char v[64];
	cr_assert(client_field(info->str, "id", v, sizeof(v)) && atoll(v) == id->integer, "%s", info->str);
	cr_assert(client_field(info->str, "name", v, sizeof(v)) && strcmp(v, "first") == 0, "%s", info->str);
	cr_assert(client_field(info->str, "db", v, sizeof(v)) && strcmp(v, "0") == 0, "%s", info->str);
	cr_assert(strstr(info->str, "cmd=client|info") != NULL, "%s", info->str);
	cr_assert(strchr(info->str, '\n') == strrchr(info->str, '\n'), "CLIENT INFO is one line: %s", info->str);
	freeReplyObject(info);

	/* CLIENT LIST ID filters. */
	list = kr_cmd(c, "CLIENT LIST ID %lld", id2->integer);
	cr_assert(list->type == REDIS_REPLY_STRING && strstr(list->str, "name=second") != NULL &&
			  strstr(list->str, "name=first") == NULL, "CLIENT LIST ID: %s", list->str);
	freeReplyObject(list);
	kr_err(c, "ERR", "CLIENT NOSUCHSUB");
	freeReplyObject(id);
	freeReplyObject(id2);
	redisFree(c);
	redisFree(c2);
}

Test(server, client_kill)
{
	redisContext *c = kr_connect(&srv);
	redisContext *v1 = kr_connect(&srv);
	redisContext *v2 = kr_connect(&srv);
	redisContext *v3 = kr_connect(&srv);
	kr_ok(v1, "SET survivor yes");
	redisReply *id1 = kr_cmd(v1, "CLIENT ID");
	char addr2[64], addr3[64];
	my_client_field(v2, "addr", addr2, sizeof(addr2));
	my_client_field(v3, "addr", addr3, sizeof(addr3));

	kr_int(c, 1, "CLIENT KILL ID %lld", id1->integer);
	expect_closed(v1, "PING");
	kr_int(c, 0, "CLIENT KILL ID %lld", id1->integer);
	kr_int(c, 0, "CLIENT KILL ID 987654321");

	/* New style ADDR filter: count of killed clients. */
	kr_int(c, 1, "CLIENT KILL ADDR %s", addr2);
	expect_closed(v2, "PING");
	kr_int(c, 0, "CLIENT KILL ADDR 10.1.2.3:4567");

	/* Old style: +OK or an error. */
	kr_ok(c, "CLIENT KILL %s", addr3);
	expect_closed(v3, "PING");
	kr_err(c, "ERR No such client", "CLIENT KILL %s", addr3);

	/* The killer and the data are fine. */
	kr_bulk(c, "yes", "GET survivor");
	wait_clients(c, 1);
	freeReplyObject(id1);
	redisFree(c);
	redisFree(v1);
	redisFree(v2);
	redisFree(v3);
}

Test(server, client_no_evict_no_touch)
{
	redisContext *c = kr_connect(&srv);
	char flags[32];
	kr_ok(c, "CLIENT NO-EVICT on");
	my_client_field(c, "flags", flags, sizeof(flags));
	cr_assert(strchr(flags, 'e') != NULL, "no-evict flag missing: flags=%s", flags);
	kr_ok(c, "CLIENT NO-EVICT off");
	my_client_field(c, "flags", flags, sizeof(flags));
	cr_assert(strchr(flags, 'e') == NULL, "no-evict flag still set: flags=%s", flags);
	kr_err(c, "ERR syntax error", "CLIENT NO-EVICT maybe");

	/* NO-TOUCH is Redis 7.2 (Debian ships 7.0). */
	if (srv.is_redis) {
		kr_err(c, "ERR unknown subcommand", "CLIENT NO-TOUCH on");
	} else {
		kr_ok(c, "CLIENT NO-TOUCH on");
		my_client_field(c, "flags", flags, sizeof(flags));
		cr_assert(strchr(flags, 'T') != NULL, "no-touch flag missing: flags=%s", flags);
		kr_ok(c, "CLIENT NO-TOUCH off");
		my_client_field(c, "flags", flags, sizeof(flags));
		cr_assert(strchr(flags, 'T') == NULL, "no-touch flag still set: flags=%s", flags);
		kr_err(c, "ERR syntax error", "CLIENT NO-TOUCH maybe");
	}
	redisFree(c);
}

Test(server, client_reply)
{
	int fd = kr_raw_connect(&srv);
	/* OFF swallows replies (its own too), ON answers +OK; SKIP drops
	 * exactly the next reply. The trailing PING proves nothing extra was
	 * sent. */
	kr_raw_expect(fd,
		   "CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nCLIENT REPLY ON\r\nGET a\r\n"
		   "CLIENT REPLY SKIP\r\nSET b 2\r\nGET b\r\nPING\r\n",
		   4, "+OK\r\n$1\r\n1\r\n$1\r\n2\r\n+PONG\r\n");
	kr_raw_expect(fd, "CLIENT REPLY MAYBE\r\n", 1, "-ERR syntax error\r\n");
	close(fd);
}

/* ---- INFO ---- */

Test(server, info_sections_and_fields)
{
	redisContext *c = kr_connect(&srv);
	redisReply *r = kr_cmd(c, "INFO");
	cr_assert_eq(r->type, REDIS_REPLY_STRING);
	static const char *const sections[] = { "# Server\r\n", "# Clients\r\n", "# Memory\r\n",
						"# Stats\r\n", "# Keyspace\r\n" };
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		cr_assert(strstr(r->str, sections[i]) != NULL, "INFO lacks %s", sections[i]);
	freeReplyObject(r);

	r = kr_cmd(c, "INFO clients");
	cr_assert(r->type == REDIS_REPLY_STRING && strstr(r->str, "# Clients\r\n") != NULL &&
			  strstr(r->str, "# Server") == NULL, "INFO clients: %s", r->str);
	freeReplyObject(r);
	r = kr_cmd(c, "INFO nosuchsection");
	cr_assert(r->type == REDIS_REPLY_STRING && strstr(r->str, "# ") == NULL, "INFO nosuchsection: %s",
		  r->str);
	freeReplyObject(r);

	cr_assert(info_str(c, "server", "redis_version") != NULL, "no redis_version");
	cr_assert_eq(info_int(c, "server", "tcp_port"), srv.port);
	cr_assert_gt(info_int(c, "memory", "used_memory"), 0);

	redisContext *c2 = kr_connect(&srv), *c3 = kr_connect(&srv);
	wait_clients(c, 3);
	redisFree(c3);
	wait_clients(c, 2);

	long long n0 = info_int(c, "stats", "total_commands_processed");
	kr_status(c2, "PONG", "PING");
	kr_status(c, "PONG", "PING");
	kr_ok(c, "SET x 1");
	long long n1 = info_int(c, "stats", "total_commands_processed");
	cr_assert_eq(n1 - n0, 4, "total_commands_processed went %lld -> %lld after 3 commands + INFO", n0, n1);

	long long h0 = info_int(c, "stats", "keyspace_hits");
	long long m0 = info_int(c, "stats", "keyspace_misses");
	kr_bulk(c, "1", "GET x");
	kr_nil(c, "GET nokey1");
	kr_nil(c2, "GET nokey2");
	cr_assert_eq(info_int(c, "stats", "keyspace_hits") - h0, 1);
	cr_assert_eq(info_int(c, "stats", "keyspace_misses") - m0, 2);
	redisFree(c2);
	redisFree(c);
}

Test(server, info_expired_and_keyspace)
{
	redisContext *c = kr_connect(&srv);
	long long e0 = info_int(c, "stats", "expired_keys");
	kr_ok(c, "SET shortlived v PX 1");
	int gone = 0;
	for (int i = 0; i < 200 && !gone; i++) {
		kr_sleep_ms(5);
		redisReply *r = kr_cmd(c, "GET shortlived");
		gone = r->type == REDIS_REPLY_NIL;
		freeReplyObject(r);
	}
	cr_assert(gone, "key with PX 1 never expired");
	cr_assert_eq(info_int(c, "stats", "expired_keys") - e0, 1);

	/* Keyspace lines appear only for non-empty dbs. */
	redisReply *r = kr_cmd(c, "INFO keyspace");
	cr_assert(r->type == REDIS_REPLY_STRING && strstr(r->str, "db0:") == NULL, "empty db0 listed: %s",
		  r->str);
	freeReplyObject(r);
	kr_ok(c, "SET a 1");
	kr_ok(c, "SET b 2");
	kr_ok(c, "SET c 3 EX 1000");
	kr_ok(c, "SELECT 3");
	kr_ok(c, "SET d 4");
	const char *db0 = info_str(c, "keyspace", "db0");
	cr_assert(db0 != NULL && strncmp(db0, "keys=3,expires=1,avg_ttl=", 25) == 0, "db0: %s", db0);
	char *end;
	strtoll(db0 + 25, &end, 10);
	cr_assert(end != db0 + 25 && *end == '\0', "avg_ttl not an integer: %s", db0);
	const char *db3 = info_str(c, "keyspace", "db3");
	cr_assert(db3 != NULL && strcmp(db3, "keys=1,expires=0,avg_ttl=0") == 0, "db3: %s", db3);
	cr_assert(info_str(c, "keyspace", "db1") == NULL, "empty db1 listed");
	redisFree(c);
}

/* Integer value of "name=" in a "k=v,k=v" INFO line (up to eol), or -1. */
static long long kv_field(const char *line, const char *eol, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = line; p != NULL && p < eol; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, name, n) == 0 && p[n] == '=')
			return atoll(p + n + 1);
	}
	return -1;
}

/* Sums of the per-shard fields of INFO shards; asserts every shard has a
 * line shard<i>:keys=..,ops=..,connected_clients=.. (or connections=..). */
struct shard_sums {
	long long keys[64], total_keys, ops, conns;
};

static void read_shards(redisContext *c, int nshards, struct shard_sums *out)
{
	memset(out, 0, sizeof(*out));
	redisReply *r = kr_cmd(c, "INFO shards");
	cr_assert(r->type == REDIS_REPLY_STRING && strstr(r->str, "# Shards\r\n") != NULL,
		  "INFO shards has no # Shards section: %s", r->type == REDIS_REPLY_STRING ? r->str : "?");
	for (int i = 0; i < nshards; i++) {
		char name[32];
		snprintf(name, sizeof(name), "\nshard%d:", i);
		const char *line = strstr(r->str, name);
		cr_assert(line != NULL, "no line for shard %d: %s", i, r->str);
		line += strlen(name);
		const char *eol = strchr(line, '\r');
		cr_assert(eol != NULL);
		long long keys = kv_field(line, eol, "keys"), ops = kv_field(line, eol, "ops");
		long long conns = kv_field(line, eol, "connected_clients");
		if (conns < 0)
			conns = kv_field(line, eol, "connections");
		cr_assert(keys >= 0 && ops >= 0 && conns >= 0, "shard %d line lacks keys/ops/connections: %s", i,
			  r->str);
		out->keys[i] = keys;
		out->total_keys += keys;
		out->ops += ops;
		out->conns += conns;
	}
	char extra[32];
	snprintf(extra, sizeof(extra), "\nshard%d:", nshards);
	cr_assert(strstr(r->str, extra) == NULL, "more shard lines than --shards %d: %s", nshards, r->str);
	freeReplyObject(r);
}

/* keyrail's "# Shards" section: one line per shard with its keys, ops and
 * connections; keys are placed by slot % nshards. */
Test(server, info_shards)
{
	skip_on_redis("INFO shards");
	const char *env = getenv("KR_SHARDS");
	int nshards = env != NULL && atoi(env) > 0 ? atoi(env) : 1;
	redisContext *c = kr_connect(&srv);
	long long want[64] = { 0 };
	char key[32];
	for (int i = 0; i < 90; i++) {
		snprintf(key, sizeof(key), "sk:%d", i);
		kr_ok(c, "SET %s v", key);
		want[kr_key_slot(key) % (unsigned)nshards]++;
	}
	struct shard_sums a, b;
	read_shards(c, nshards, &a);
	for (int i = 0; i < nshards; i++)
		cr_assert_eq(a.keys[i], want[i], "shard %d: keys=%lld, expected %lld (slot %% %d)", i, a.keys[i],
			     want[i], nshards);
	cr_assert_eq(a.total_keys, 90);
	kr_int(c, 90, "DBSIZE");
	wait_clients(c, 1);
	cr_assert_eq(a.conns, info_int(c, "clients", "connected_clients"),
		     "per-shard connections do not add up to connected_clients");
	for (int i = 0; i < 30; i++)
		kr_bulk(c, "v", "GET sk:%d", i);
	read_shards(c, nshards, &b);
	cr_assert_geq(b.ops - a.ops, 30, "ops went %lld -> %lld after 30 GETs", a.ops, b.ops);
	redisFree(c);
}

/* ---- CONFIG ---- */

Test(server, config_get)
{
	redisContext *c = kr_connect(&srv);
	char port[16];
	snprintf(port, sizeof(port), "%d", srv.port);
	expect_config(c, "port", port);
	expect_config(c, "PORT", port);
	expect_config(c, "slowlog-max-len", "128");

	/* Glob patterns: every name matches, values are paired. */
	redisReply *r = kr_cmd(c, "CONFIG GET %s", "*slowlog*");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 4, "CONFIG GET *slowlog*: %zu elements",
		  r->elements);
	for (size_t i = 0; i < r->elements; i += 2)
		cr_assert(strcmp(r->element[i]->str, "slowlog-log-slower-than") == 0 ||
				  strcmp(r->element[i]->str, "slowlog-max-len") == 0,
			  "CONFIG GET *slowlog* returned %s", r->element[i]->str);
	freeReplyObject(r);
	r = kr_cmd(c, "CONFIG GET %s", "*max*");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements >= 4 && r->elements % 2 == 0,
		  "CONFIG GET *max*: %zu elements", r->elements);
	int saw_maxclients = 0;
	for (size_t i = 0; i < r->elements; i += 2) {
		cr_assert(fnmatch("*max*", r->element[i]->str, 0) == 0, "%s does not match *max*",
			  r->element[i]->str);
		saw_maxclients |= strcmp(r->element[i]->str, "maxclients") == 0;
	}
	cr_assert(saw_maxclients, "CONFIG GET *max* lacks maxclients");
	freeReplyObject(r);
	r = kr_cmd(c, "CONFIG GET port slowlog-max-len");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 4, "CONFIG GET with two names");
	freeReplyObject(r);
	r = kr_cmd(c, "CONFIG GET nosuchparam");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 0, "CONFIG GET nosuchparam");
	freeReplyObject(r);
	kr_err(c, "ERR wrong number of arguments for 'config|get' command", "CONFIG GET");
	redisFree(c);
}

Test(server, config_set)
{
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "CONFIG SET slowlog-max-len 77");
	expect_config(c, "slowlog-max-len", "77");
	kr_ok(c, "CONFIG SET slowlog-max-len 78 hz 20");
	expect_config(c, "slowlog-max-len", "78");
	expect_config(c, "hz", "20");

	kr_err(c, "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config",
	       "CONFIG SET databases 3");
	kr_err(c, "ERR CONFIG SET failed (possibly related to argument 'hz')", "CONFIG SET hz abc");
	kr_err(c, "ERR CONFIG SET failed (possibly related to argument 'slowlog-max-len')",
	       "CONFIG SET slowlog-max-len -5");
	kr_err(c, "ERR Unknown option or number of arguments for CONFIG SET - 'nosuchparam'",
	       "CONFIG SET nosuchparam 1");
	kr_err(c, "ERR wrong number of arguments for 'config|set' command", "CONFIG SET hz");
	/* A failed SET changes nothing, not even its valid part. */
	kr_err(c, "ERR CONFIG SET failed", "CONFIG SET slowlog-max-len 5 hz abc");
	expect_config(c, "slowlog-max-len", "78");
	expect_config(c, "hz", "20");
	expect_config(c, "databases", "16");
	redisFree(c);
}

Test(server, config_maxmemory)
{
	skip_on_keyrail("maxmemory and eviction policies (keyspace milestone)");
	redisContext *c = kr_connect(&srv);
	expect_config(c, "maxmemory", "0");
	expect_config(c, "maxmemory-policy", "noeviction");
	kr_ok(c, "CONFIG SET maxmemory-policy allkeys-lru");
	expect_config(c, "maxmemory-policy", "allkeys-lru");
	kr_ok(c, "CONFIG SET maxmemory 100mb maxmemory-policy noeviction");
	expect_config(c, "maxmemory", "104857600");
	expect_config(c, "maxmemory-policy", "noeviction");
	kr_err(c, "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy')",
	       "CONFIG SET maxmemory-policy bogus");
	kr_err(c, "ERR CONFIG SET failed (possibly related to argument 'maxmemory')",
	       "CONFIG SET maxmemory lots");
	expect_config(c, "maxmemory", "104857600");
	kr_ok(c, "CONFIG SET maxmemory 0");
	redisFree(c);
}

Test(server, config_resetstat)
{
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "SET k v");
	for (int i = 0; i < 10; i++)
		kr_nil(c, "GET nokey");
	kr_bulk(c, "v", "GET k");
	cr_assert_geq(info_int(c, "stats", "total_commands_processed"), 12);
	cr_assert_geq(info_int(c, "stats", "keyspace_misses"), 10);
	kr_ok(c, "CONFIG RESETSTAT");
	cr_assert_leq(info_int(c, "stats", "total_commands_processed"), 2);
	cr_assert_eq(info_int(c, "stats", "keyspace_misses"), 0);
	cr_assert_eq(info_int(c, "stats", "keyspace_hits"), 0);
	/* Data is untouched. */
	kr_bulk(c, "v", "GET k");
	redisFree(c);
}

/* ---- COMMAND ---- */

static redisReply *find_str(redisReply *arr, const char *s)
{
	for (size_t i = 0; i < arr->elements; i++)
		if ((arr->element[i]->type == REDIS_REPLY_STRING || arr->element[i]->type == REDIS_REPLY_STATUS) &&
		    strcasecmp(arr->element[i]->str, s) == 0)
			return arr->element[i];
	return NULL;
}

Test(server, command_introspection)
{
	redisContext *c = kr_connect(&srv);
	redisReply *count = kr_cmd(c, "COMMAND COUNT");
	cr_assert(count->type == REDIS_REPLY_INTEGER && count->integer >= 20, "COMMAND COUNT");
	redisReply *list = kr_cmd(c, "COMMAND LIST");
	/* LIST also names subcommands ("config|get"); COUNT counts only
	 * top-level commands. */
	cr_assert(list->type == REDIS_REPLY_ARRAY, "COMMAND LIST");
	long long toplevel = 0;
	for (size_t i = 0; i < list->elements; i++)
		toplevel += strchr(list->element[i]->str, '|') == NULL;
	cr_assert(toplevel == count->integer, "COMMAND LIST has %lld top-level names, COMMAND COUNT says %lld",
		  toplevel, count->integer);
	static const char *const must[] = { "get", "set", "ping", "command", "info", "config", "client" };
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		cr_assert(find_str(list, must[i]) != NULL, "COMMAND LIST lacks %s", must[i]);
	freeReplyObject(list);
	redisReply *all = kr_cmd(c, "COMMAND");
	cr_assert(all->type == REDIS_REPLY_ARRAY && (long long)all->elements == count->integer,
		  "COMMAND returned %zu entries, COUNT %lld", all->elements, count->integer);
	freeReplyObject(all);
	freeReplyObject(count);

	/* name, arity, flags, first key, last key, step, ... */
	redisReply *r = kr_cmd(c, "COMMAND INFO get set");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "COMMAND INFO get set");
	redisReply *g = r->element[0], *s = r->element[1];
	cr_assert(g->type == REDIS_REPLY_ARRAY && g->elements >= 6, "COMMAND INFO get entry");
	cr_assert_str_eq(g->element[0]->str, "get");
	cr_assert_eq(g->element[1]->integer, 2);
	cr_assert(find_str(g->element[2], "readonly") != NULL && find_str(g->element[2], "fast") != NULL,
		  "get flags lack readonly/fast");
	cr_assert(g->element[3]->integer == 1 && g->element[4]->integer == 1 && g->element[5]->integer == 1,
		  "get key positions");
	cr_assert(s->type == REDIS_REPLY_ARRAY && s->elements >= 6, "COMMAND INFO set entry");
	cr_assert_str_eq(s->element[0]->str, "set");
	cr_assert_eq(s->element[1]->integer, -3);
	cr_assert(find_str(s->element[2], "write") != NULL, "set flags lack write");
	freeReplyObject(r);
	r = kr_cmd(c, "COMMAND INFO nosuchcmd");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_NIL,
		  "COMMAND INFO nosuchcmd");
	freeReplyObject(r);
	r = kr_cmd(c, "COMMAND INFO mset");
	cr_assert(r->element[0]->element[1]->integer == -3 && r->element[0]->element[3]->integer == 1 &&
			  r->element[0]->element[4]->integer == -1 && r->element[0]->element[5]->integer == 2,
		  "mset arity/key positions");
	freeReplyObject(r);

	/* DOCS: name -> map with a summary. */
	r = kr_cmd(c, "COMMAND DOCS get");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && strcmp(r->element[0]->str, "get") == 0,
		  "COMMAND DOCS get");
	redisReply *doc = r->element[1];
	cr_assert(doc->type == REDIS_REPLY_ARRAY && doc->elements % 2 == 0, "COMMAND DOCS get: doc map");
	int has_summary = 0;
	for (size_t i = 0; i + 1 < doc->elements; i += 2)
		if (strcmp(doc->element[i]->str, "summary") == 0)
			has_summary = doc->element[i + 1]->type == REDIS_REPLY_STRING && doc->element[i + 1]->len > 0;
	cr_assert(has_summary, "COMMAND DOCS get has no summary");
	freeReplyObject(r);

	r = kr_cmd(c, "COMMAND GETKEYS MSET a 1 b 2");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && strcmp(r->element[0]->str, "a") == 0 &&
			  strcmp(r->element[1]->str, "b") == 0, "COMMAND GETKEYS MSET a 1 b 2");
	freeReplyObject(r);
	r = kr_cmd(c, "COMMAND GETKEYS SET k v EX 10");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1 && strcmp(r->element[0]->str, "k") == 0,
		  "COMMAND GETKEYS SET");
	freeReplyObject(r);
	kr_err(c, "ERR Invalid number of arguments specified for command", "COMMAND GETKEYS GET a b");
	kr_err(c, "ERR The command has no key arguments", "COMMAND GETKEYS PING x");
	kr_err(c, "ERR Invalid command specified", "COMMAND GETKEYS nosuchcmd x");
	redisFree(c);
}

/* ---- TIME, LASTSAVE, DBSIZE ---- */

Test(server, time_lastsave_dbsize)
{
	redisContext *c = kr_connect(&srv);
	redisReply *r = kr_cmd(c, "TIME");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
			  r->element[1]->type == REDIS_REPLY_STRING, "TIME: two bulk strings");
	long long sec = atoll(r->element[0]->str), usec = atoll(r->element[1]->str);
	long long now = (long long)time(NULL);
	cr_assert(sec >= now - 5 && sec <= now + 5, "TIME seconds %lld far from the local clock %lld", sec, now);
	cr_assert(usec >= 0 && usec < 1000000, "TIME microseconds %lld", usec);
	freeReplyObject(r);

	r = kr_cmd(c, "LASTSAVE");
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer >= 0 && r->integer <= now + 5, "LASTSAVE");
	freeReplyObject(r);

	kr_int(c, 0, "DBSIZE");
	kr_ok(c, "SET a 1");
	kr_ok(c, "SET b 1");
	kr_ok(c, "SET c 1");
	kr_int(c, 3, "DBSIZE");
	kr_int(c, 1, "DEL b");
	kr_int(c, 2, "DBSIZE");
	kr_ok(c, "SELECT 1");
	kr_int(c, 0, "DBSIZE");
	kr_err(c, "ERR wrong number of arguments for 'dbsize' command", "DBSIZE x");
	redisFree(c);
}

/* ---- DEBUG ---- */

Test(server, debug_commands)
{
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "DEBUG SLEEP 0");
	kr_ok(c, "SET key:5 mine");
	kr_ok(c, "DEBUG POPULATE 1000");
	kr_int(c, 1000, "DBSIZE");
	kr_bulk(c, "value:0", "GET key:0");
	kr_bulk(c, "value:999", "GET key:999");
	kr_bulk(c, "mine", "GET key:5"); /* existing keys are not overwritten */
	kr_nil(c, "GET key:1000");
	kr_ok(c, "DEBUG POPULATE 10 foo 5");
	kr_int(c, 1010, "DBSIZE");
	kr_bulk(c, "value", "GET foo:3");

	kr_ok(c, "SET num 12345");
	redisReply *r = kr_cmd(c, "DEBUG OBJECT num");
	cr_assert(r->type == REDIS_REPLY_STATUS && strncmp(r->str, "Value at:", 9) == 0 &&
			  strstr(r->str, " refcount:") != NULL && strstr(r->str, " encoding:int") != NULL &&
			  strstr(r->str, " serializedlength:") != NULL && strstr(r->str, " lru_seconds_idle:") != NULL,
		  "DEBUG OBJECT num: %s", r->str);
	freeReplyObject(r);
	r = kr_cmd(c, "DEBUG OBJECT key:0");
	cr_assert(r->type == REDIS_REPLY_STATUS && strstr(r->str, " encoding:") != NULL &&
			  strstr(r->str, " encoding:int") == NULL, "DEBUG OBJECT key:0: %s", r->str);
	freeReplyObject(r);
	kr_err(c, "ERR no such key", "DEBUG OBJECT nokey");
	kr_err(c, "ERR", "DEBUG NOSUCHSUBCOMMAND");
	redisFree(c);
}

Test(server, debug_set_active_expire)
{
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "DEBUG SET-ACTIVE-EXPIRE 0");
	kr_ok(c, "SET doomed v PX 30");
	kr_ok(c, "SET kept v");
	kr_sleep_ms(300);
	/* Nothing reclaims the expired key until it is touched. */
	kr_int(c, 2, "DBSIZE");
	kr_int(c, 0, "EXISTS doomed");
	kr_int(c, 1, "DBSIZE");

	kr_ok(c, "DEBUG SET-ACTIVE-EXPIRE 1");
	kr_ok(c, "SET doomed2 v PX 30");
	long long n = -1;
	for (int i = 0; i < 250 && n != 1; i++) {
		kr_sleep_ms(20);
		redisReply *r = kr_cmd(c, "DBSIZE");
		n = r->integer;
		freeReplyObject(r);
	}
	cr_assert_eq(n, 1, "active expiry did not remove the expired key (DBSIZE %lld)", n);
	redisFree(c);
}

/* ---- SLOWLOG ---- */

Test(server, slowlog)
{
	redisContext *c = kr_connect(&srv);
	char addr[64];
	my_client_field(c, "addr", addr, sizeof(addr));
	kr_ok(c, "CLIENT SETNAME slowpoke");
	kr_ok(c, "CONFIG SET slowlog-log-slower-than 0");
	kr_ok(c, "SLOWLOG RESET");
	kr_ok(c, "SET slowkey slowval");
	/* A negative threshold stops logging (this CONFIG SET included). */
	kr_ok(c, "CONFIG SET slowlog-log-slower-than -1");
	redisReply *len = kr_cmd(c, "SLOWLOG LEN");
	cr_assert(len->type == REDIS_REPLY_INTEGER && len->integer >= 1, "SLOWLOG LEN");
	redisReply *r = kr_cmd(c, "SLOWLOG GET -1");
	cr_assert(r->type == REDIS_REPLY_ARRAY && (long long)r->elements == len->integer,
		  "SLOWLOG GET -1 returned %zu entries, LEN %lld", r->elements, len->integer);
	int found = 0;
	for (size_t i = 0; i < r->elements; i++) {
		redisReply *e = r->element[i];
		cr_assert(e->type == REDIS_REPLY_ARRAY && e->elements == 6, "slowlog entry shape");
		cr_assert(e->element[0]->type == REDIS_REPLY_INTEGER && e->element[1]->type == REDIS_REPLY_INTEGER &&
				  e->element[2]->type == REDIS_REPLY_INTEGER && e->element[3]->type == REDIS_REPLY_ARRAY,
			  "slowlog entry field types");
		redisReply *args = e->element[3];
		if (args->elements == 3 && strcmp(args->element[0]->str, "SET") == 0 &&
		    strcmp(args->element[1]->str, "slowkey") == 0 && strcmp(args->element[2]->str, "slowval") == 0) {
			found = 1;
			cr_assert_str_eq(e->element[4]->str, addr);
			cr_assert_str_eq(e->element[5]->str, "slowpoke");
		}
		/* Newest first: ids decrease. */
		if (i > 0)
			cr_assert_lt(e->element[0]->integer, r->element[i - 1]->element[0]->integer);
	}
	cr_assert(found, "SET slowkey slowval not in the slow log");
	freeReplyObject(r);
	r = kr_cmd(c, "SLOWLOG GET 1");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1, "SLOWLOG GET 1");
	freeReplyObject(r);
	freeReplyObject(len);
	kr_ok(c, "SLOWLOG RESET");
	kr_int(c, 0, "SLOWLOG LEN");
	r = kr_cmd(c, "SLOWLOG GET");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 0, "SLOWLOG GET after RESET");
	freeReplyObject(r);
	redisFree(c);
}

/* ---- MONITOR ---- */

static void expect_monitor_line(redisContext *m, int db, const char *addr, const char *args)
{
	redisReply *r = NULL;
	cr_assert(redisGetReply(m, (void **)&r) == REDIS_OK && r != NULL, "MONITOR stream ended: %s", m->errstr);
	cr_assert_eq(r->type, REDIS_REPLY_STATUS, "MONITOR line is not a status reply");
	long sec = 0;
	int usec_digits = 0, consumed = 0;
	cr_assert(sscanf(r->str, "%ld.%*d%n", &sec, &consumed) >= 1 && consumed > 0, "MONITOR ts: %s", r->str);
	const char *dot = strchr(r->str, '.');
	usec_digits = (int)strspn(dot + 1, "0123456789");
	cr_assert(sec > 1000000000L && usec_digits == 6, "MONITOR timestamp: %s", r->str);
	char want[512];
	snprintf(want, sizeof(want), " [%d %s] %s", db, addr, args);
	cr_assert_str_eq(r->str + consumed, want, "MONITOR line: %s", r->str);
	freeReplyObject(r);
}

Test(server, monitor)
{
	redisContext *c = kr_connect(&srv);
	redisContext *m = kr_connect(&srv);
	char addr[64];
	my_client_field(c, "addr", addr, sizeof(addr));
	kr_ok(m, "MONITOR");
	kr_ok(c, "set k v");
	expect_monitor_line(m, 0, addr, "\"set\" \"k\" \"v\"");
	kr_ok(c, "SELECT 2");
	/* Redis 7 feeds monitors after execution: SELECT shows the new db. */
	expect_monitor_line(m, 2, addr, "\"SELECT\" \"2\"");
	kr_nil(c, "get %s", "a b");
	expect_monitor_line(m, 2, addr, "\"get\" \"a b\"");
	kr_ok(c, "SET %b x", "q\"\n", (size_t)3);
	expect_monitor_line(m, 2, addr, "\"SET\" \"q\\\"\\n\" \"x\"");
	redisFree(m);
	kr_status(c, "PONG", "PING");
	redisFree(c);
}

/* ---- SHUTDOWN and signals ---- */

static int wait_exit(struct kr_srv *s)
{
	for (int i = 0; i < 1000 && kr_srv_alive(s); i++)
		kr_sleep_ms(10);
	cr_assert(!kr_srv_alive(s), "server still running");
	return kr_srv_stop(s);
}

Test(server, shutdown_nosave)
{
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "SET k v");
	kr_err(c, "ERR syntax error", "SHUTDOWN BOGUS");
	cr_assert(kr_srv_alive(&srv));
	redisReply *r = redisCommand(c, "SHUTDOWN NOSAVE");
	cr_assert(r == NULL, "SHUTDOWN NOSAVE replied (type %d) instead of closing", r != NULL ? r->type : -1);
	redisFree(c);
	int st = wait_exit(&srv);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status after SHUTDOWN NOSAVE: 0x%x", st);
}

Test(server, sigterm_exits_cleanly)
{
	redisContext *c = kr_connect(&srv);
	redisContext *idle = kr_connect(&srv);
	kr_ok(c, "SET k v");
	kr_ok(c, "DEBUG POPULATE 100");
	int st = kr_srv_stop(&srv);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status after SIGTERM: 0x%x", st);
	/* Open connections were closed by the exit. */
	expect_closed(idle, "PING");
	redisFree(idle);
	redisFree(c);
}

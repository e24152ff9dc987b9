/* The collection types' modules, registered with the keyspace once at
 * start-up (ks.c dispatches free/clone/size through them). */
#include "shards/shard_int.h"
#include "shards/obj_hash.h"
#include "shards/obj_list.h"
#include "shards/obj_set.h"
#include "shards/obj_zset.h"

void types_register(void)
{
	ks_register_type(KS_LIST, &obj_list_ops);
	ks_register_type(KS_HASH, &obj_hash_ops);
	ks_register_type(KS_SET, &obj_set_ops);
	ks_register_type(KS_ZSET, &obj_zset_ops);
}

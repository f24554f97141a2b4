/* test_phash2.c - CUnit suite for c_src/phash2.c.
 *
 * The vectors below were computed with the BEAM (OTP 25):
 *   T = binary_to_term(Bin),
 *   {erlang:phash2(T), erlang:phash2(T, 4294967295), erlang:phash2(T, 1 bsl 32)}
 * for term_to_binary of the named terms, and for crafted non-canonical
 * encodings (old tags, padded bignums, lists continued by a string, ...).
 * test/phash2_SUITE.erl adds the random oracle (tens of thousands of terms).
 *
 * Also here: every truncation of every vector placed against a guard page,
 * random garbage and mutations of valid terms (must be answered, never
 * crash: run under `make asan-test` and valgrind), deep nesting, long
 * lists, and the error codes.
 */
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "phash2.h"

typedef struct {
    const char *name;
    size_t len;
    const char *bytes;
    uint32_t h27;   /* erlang:phash2(T) */
    uint32_t h32r;  /* erlang:phash2(T, 4294967295) */
    uint32_t raw;   /* erlang:phash2(T, 1 bsl 32): the full hash */
} vector_t;

static const vector_t vectors[] = {
    {"0", 3, "\x83\x61\x00", 88723725u, 3175731469u, 3175731469u},
    {"1", 3, "\x83\x61\x01", 2614250u, 539485162u, 539485162u},
    {"-1", 6, "\x83\x62\xff\xff\xff\xff", 44071773u, 1117813597u, 1117813597u},
    {"255", 3, "\x83\x61\xff", 44734653u, 715823293u, 715823293u},
    {"256", 6, "\x83\x62\x00\x00\x01\x00", 37021655u, 3929335767u, 3929335767u},
    {"2^27-1", 6, "\x83\x62\x07\xff\xff\xff", 112602999u, 4273352567u, 4273352567u},
    {"2^27", 6, "\x83\x62\x08\x00\x00\x00", 12354923u, 2562491755u, 2562491755u},
    {"-2^27", 6, "\x83\x62\xf8\x00\x00\x00", 69672967u, 874979335u, 874979335u},
    {"-2^27-1", 6, "\x83\x62\xf7\xff\xff\xff", 76739502u, 1418916782u, 1418916782u},
    {"2^31", 8, "\x83\x6e\x04\x00\x00\x00\x00\x80", 14246037u, 2832818325u, 2832818325u},
    {"-2^31", 6, "\x83\x62\x80\x00\x00\x00", 62030289u, 1672643025u, 1672643025u},
    {"2^32", 9, "\x83\x6e\x05\x00\x00\x00\x00\x00\x01", 95057355u, 2108323275u, 2108323275u},
    {"2^59", 12, "\x83\x6e\x08\x00\x00\x00\x00\x00\x00\x00\x00\x08", 26969617u, 2442888721u, 2442888721u},
    {"2^60", 12, "\x83\x6e\x08\x00\x00\x00\x00\x00\x00\x00\x00\x10", 31803508u, 1373980788u, 1373980788u},
    {"2^64", 13, "\x83\x6e\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 103122609u, 2519041713u, 2519041713u},
    {"-2^64", 13, "\x83\x6e\x09\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01", 13457787u, 2563594619u, 2563594619u},
    {"2^64-1", 12, "\x83\x6e\x08\x00\xff\xff\xff\xff\xff\xff\xff\xff", 53435350u, 321870806u, 321870806u},
    {"2^100+7", 17, "\x83\x6e\x0d\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10", 124918388u, 4151450228u, 4151450228u},
    {"0.0", 10, "\x83\x46\x00\x00\x00\x00\x00\x00\x00\x00", 20875736u, 423528920u, 423528920u},
    {"-0.0", 10, "\x83\x46\x80\x00\x00\x00\x00\x00\x00\x00", 20875736u, 423528920u, 423528920u},
    {"1.5", 10, "\x83\x46\x3f\xf8\x00\x00\x00\x00\x00\x00", 10380315u, 2023646235u, 2023646235u},
    {"-1.0e300", 10, "\x83\x46\xfe\x37\xe4\x3c\x88\x00\x75\x9c", 84771912u, 3171779656u, 3171779656u},
    {"foo", 7, "\x83\x64\x00\x03\x66\x6f\x6f", 27999u, 27999u, 27999u},
    {"''", 4, "\x83\x64\x00\x00", 0u, 0u, 0u},
    {"'h\xc3\xa9llo'", 9, "\x83\x64\x00\x05\x68\xe9\x6c\x6c\x6f", 7799599u, 7799599u, 7799599u},
    {"nihon atom", 9, "\x83\x77\x06\xe6\x97\xa5\xe6\x9c\xac", 117588076u, 251805804u, 251805804u},
    {"<<>>", 6, "\x83\x6d\x00\x00\x00\x00", 13708901u, 147926629u, 147926629u},
    {"<<\"abc\">>", 9, "\x83\x6d\x00\x00\x00\x03\x61\x62\x63", 98228475u, 1306188027u, 1306188027u},
    {"<<1:3>>", 8, "\x83\x4d\x00\x00\x00\x01\x03\x20", 73037028u, 3965351140u, 3965351140u},
    {"13-byte binary", 19, "\x83\x6d\x00\x00\x00\x0d\x68\x65\x6c\x6c\x6f\x20\x77\x6f\x72\x6c\x64\x21\x78", 126902301u, 1871732765u, 1871732765u},
    {"<<255,7:4>>", 9, "\x83\x4d\x00\x00\x00\x02\x04\xff\x70", 98154940u, 3587815868u, 3587815868u},
    {"[]", 2, "\x83\x6a", 113427502u, 3468870702u, 3468870702u},
    {"\"abc\"", 7, "\x83\x6b\x00\x03\x61\x62\x63", 117343302u, 519996486u, 519996486u},
    {"[1,2,3,256]", 18, "\x83\x6c\x00\x00\x00\x04\x61\x01\x61\x02\x61\x03\x62\x00\x00\x01\x00\x6a", 73781910u, 2489701014u, 2489701014u},
    {"[a|b]", 14, "\x83\x6c\x00\x00\x00\x01\x64\x00\x01\x61\x64\x00\x01\x62", 74710280u, 2356411656u, 2356411656u},
    {"[[]]", 8, "\x83\x6c\x00\x00\x00\x01\x6a\x6a", 96416884u, 499070068u, 499070068u},
    {"[1,2|3]", 12, "\x83\x6c\x00\x00\x00\x02\x61\x01\x61\x02\x61\x03", 8851781u, 4169601349u, 4169601349u},
    {"nihon string", 17, "\x83\x6c\x00\x00\x00\x02\x62\x00\x00\x65\xe5\x62\x00\x00\x67\x2c\x6a", 14330518u, 2698685078u, 2698685078u},
    {"{}", 3, "\x83\x68\x00", 87486268u, 221703996u, 221703996u},
    {"{a,b}", 11, "\x83\x68\x02\x64\x00\x01\x61\x64\x00\x01\x62", 101277806u, 1980325998u, 1980325998u},
    {"{a,[],{}}", 10, "\x83\x68\x03\x64\x00\x01\x61\x6a\x68\x00", 42965485u, 1385142765u, 1385142765u},
    {"300-tuple", 741, "\x83\x69\x00\x00\x01\x2c\x61\x01\x61\x02\x61\x03\x61\x04\x61\x05\x61\x06\x61\x07\x61\x08\x61\x09\x61\x0a\x61\x0b\x61\x0c\x61\x0d\x61\x0e\x61\x0f\x61\x10\x61\x11\x61\x12\x61\x13\x61\x14\x61\x15\x61\x16\x61\x17\x61\x18\x61\x19\x61\x1a\x61\x1b\x61\x1c\x61\x1d\x61\x1e\x61\x1f\x61\x20\x61\x21\x61\x22\x61\x23\x61\x24\x61\x25\x61\x26\x61\x27\x61\x28\x61\x29\x61\x2a\x61\x2b\x61\x2c\x61\x2d\x61\x2e\x61\x2f\x61\x30\x61\x31\x61\x32\x61\x33\x61\x34\x61\x35\x61\x36\x61\x37\x61\x38\x61\x39\x61\x3a\x61\x3b\x61\x3c\x61\x3d\x61\x3e\x61\x3f\x61\x40\x61\x41\x61\x42\x61\x43\x61\x44\x61\x45\x61\x46\x61\x47\x61\x48\x61\x49\x61\x4a\x61\x4b\x61\x4c\x61\x4d\x61\x4e\x61\x4f\x61\x50\x61\x51\x61\x52\x61\x53\x61\x54\x61\x55\x61\x56\x61\x57\x61\x58\x61\x59\x61\x5a\x61\x5b\x61\x5c\x61\x5d\x61\x5e\x61\x5f\x61\x60\x61\x61\x61\x62\x61\x63\x61\x64\x61\x65\x61\x66\x61\x67\x61\x68\x61\x69\x61\x6a\x61\x6b\x61\x6c\x61\x6d\x61\x6e\x61\x6f\x61\x70\x61\x71\x61\x72\x61\x73\x61\x74\x61\x75\x61\x76\x61\x77\x61\x78\x61\x79\x61\x7a\x61\x7b\x61\x7c\x61\x7d\x61\x7e\x61\x7f\x61\x80\x61\x81\x61\x82\x61\x83\x61\x84\x61\x85\x61\x86\x61\x87\x61\x88\x61\x89\x61\x8a\x61\x8b\x61\x8c\x61\x8d\x61\x8e\x61\x8f\x61\x90\x61\x91\x61\x92\x61\x93\x61\x94\x61\x95\x61\x96\x61\x97\x61\x98\x61\x99\x61\x9a\x61\x9b\x61\x9c\x61\x9d\x61\x9e\x61\x9f\x61\xa0\x61\xa1\x61\xa2\x61\xa3\x61\xa4\x61\xa5\x61\xa6\x61\xa7\x61\xa8\x61\xa9\x61\xaa\x61\xab\x61\xac\x61\xad\x61\xae\x61\xaf\x61\xb0\x61\xb1\x61\xb2\x61\xb3\x61\xb4\x61\xb5\x61\xb6\x61\xb7\x61\xb8\x61\xb9\x61\xba\x61\xbb\x61\xbc\x61\xbd\x61\xbe\x61\xbf\x61\xc0\x61\xc1\x61\xc2\x61\xc3\x61\xc4\x61\xc5\x61\xc6\x61\xc7\x61\xc8\x61\xc9\x61\xca\x61\xcb\x61\xcc\x61\xcd\x61\xce\x61\xcf\x61\xd0\x61\xd1\x61\xd2\x61\xd3\x61\xd4\x61\xd5\x61\xd6\x61\xd7\x61\xd8\x61\xd9\x61\xda\x61\xdb\x61\xdc\x61\xdd\x61\xde\x61\xdf\x61\xe0\x61\xe1\x61\xe2\x61\xe3\x61\xe4\x61\xe5\x61\xe6\x61\xe7\x61\xe8\x61\xe9\x61\xea\x61\xeb\x61\xec\x61\xed\x61\xee\x61\xef\x61\xf0\x61\xf1\x61\xf2\x61\xf3\x61\xf4\x61\xf5\x61\xf6\x61\xf7\x61\xf8\x61\xf9\x61\xfa\x61\xfb\x61\xfc\x61\xfd\x61\xfe\x61\xff\x62\x00\x00\x01\x00\x62\x00\x00\x01\x01\x62\x00\x00\x01\x02\x62\x00\x00\x01\x03\x62\x00\x00\x01\x04\x62\x00\x00\x01\x05\x62\x00\x00\x01\x06\x62\x00\x00\x01\x07\x62\x00\x00\x01\x08\x62\x00\x00\x01\x09\x62\x00\x00\x01\x0a\x62\x00\x00\x01\x0b\x62\x00\x00\x01\x0c\x62\x00\x00\x01\x0d\x62\x00\x00\x01\x0e\x62\x00\x00\x01\x0f\x62\x00\x00\x01\x10\x62\x00\x00\x01\x11\x62\x00\x00\x01\x12\x62\x00\x00\x01\x13\x62\x00\x00\x01\x14\x62\x00\x00\x01\x15\x62\x00\x00\x01\x16\x62\x00\x00\x01\x17\x62\x00\x00\x01\x18\x62\x00\x00\x01\x19\x62\x00\x00\x01\x1a\x62\x00\x00\x01\x1b\x62\x00\x00\x01\x1c\x62\x00\x00\x01\x1d\x62\x00\x00\x01\x1e\x62\x00\x00\x01\x1f\x62\x00\x00\x01\x20\x62\x00\x00\x01\x21\x62\x00\x00\x01\x22\x62\x00\x00\x01\x23\x62\x00\x00\x01\x24\x62\x00\x00\x01\x25\x62\x00\x00\x01\x26\x62\x00\x00\x01\x27\x62\x00\x00\x01\x28\x62\x00\x00\x01\x29\x62\x00\x00\x01\x2a\x62\x00\x00\x01\x2b\x62\x00\x00\x01\x2c", 99693584u, 770782224u, 770782224u},
    {"#{}", 6, "\x83\x74\x00\x00\x00\x00", 39679005u, 844985373u, 844985373u},
    {"#{a=>1}", 12, "\x83\x74\x00\x00\x00\x01\x64\x00\x01\x61\x61\x01", 59617982u, 1401795262u, 1401795262u},
    {"#{1=>a, b=>[]}", 17, "\x83\x74\x00\x00\x00\x02\x61\x01\x64\x00\x01\x61\x64\x00\x01\x62\x6a", 40186482u, 2053452402u, 2053452402u},
    {"33-key map", 138, "\x83\x74\x00\x00\x00\x21\x61\x21\x61\x21\x61\x0c\x61\x0c\x61\x17\x61\x17\x61\x1d\x61\x1d\x61\x1e\x61\x1e\x61\x1a\x61\x1a\x61\x1f\x61\x1f\x61\x0b\x61\x0b\x61\x09\x61\x09\x61\x20\x61\x20\x61\x19\x61\x19\x61\x1c\x61\x1c\x61\x06\x61\x06\x61\x0d\x61\x0d\x61\x14\x61\x14\x61\x0f\x61\x0f\x61\x0e\x61\x0e\x61\x02\x61\x02\x61\x07\x61\x07\x61\x01\x61\x01\x61\x08\x61\x08\x61\x03\x61\x03\x61\x11\x61\x11\x61\x16\x61\x16\x61\x15\x61\x15\x61\x04\x61\x04\x61\x18\x61\x18\x61\x0a\x61\x0a\x61\x1b\x61\x1b\x61\x13\x61\x13\x61\x05\x61\x05\x61\x12\x61\x12\x61\x10\x61\x10", 104688156u, 3325913628u, 3325913628u},
    {"nested map", 24, "\x83\x74\x00\x00\x00\x01\x64\x00\x01\x61\x74\x00\x00\x00\x01\x64\x00\x01\x62\x74\x00\x00\x00\x00", 74242219u, 2624379051u, 2624379051u},
    {"remote pid", 24, "\x83\x58\x64\x00\x07\x6e\x31\x40\x68\x6f\x73\x74\x00\x00\x00\x2a\x00\x00\x00\x07\x00\x00\x00\x03", 100488000u, 4127019840u, 4127019840u},
    {"remote ref", 30, "\x83\x5a\x00\x03\x64\x00\x07\x6e\x31\x40\x68\x6f\x73\x74\x00\x00\x00\x03\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03", 118531908u, 118531908u, 118531908u},
    {"remote port", 20, "\x83\x59\x64\x00\x07\x6e\x31\x40\x68\x6f\x73\x74\x00\x00\x00\x09\x00\x00\x00\x03", 35275898u, 3256501370u, 3256501370u},
    {"v4 port", 24, "\x83\x78\x64\x00\x07\x6e\x31\x40\x68\x6f\x73\x74\x00\x00\x01\x00\x00\x00\x00\x09\x00\x00\x00\x03", 119562313u, 2669699145u, 2669699145u},
    {"fun lists:map/2", 18, "\x83\x71\x64\x00\x05\x6c\x69\x73\x74\x73\x64\x00\x03\x6d\x61\x70\x61\x02", 34981515u, 840287883u, 840287883u},
    {"{n1@host, 1}", 15, "\x83\x68\x02\x64\x00\x07\x6e\x31\x40\x68\x6f\x73\x74\x61\x01", 84963367u, 353398823u, 353398823u},
    {"{'swarm_a@127.0.0.1', 128}", 25, "\x83\x68\x02\x64\x00\x11\x73\x77\x61\x72\x6d\x5f\x61\x40\x31\x32\x37\x2e\x30\x2e\x30\x2e\x31\x61\x80", 7969764u, 3363412964u, 3363412964u},
    {"INTEGER_EXT 5", 6, "\x83\x62\x00\x00\x00\x05", 5878562u, 676967202u, 676967202u},
    {"SMALL_BIG_EXT 5 padded", 7, "\x83\x6e\x03\x00\x05\x00\x00", 5878562u, 676967202u, 676967202u},
    {"SMALL_BIG_EXT -0", 5, "\x83\x6e\x01\x01\x00", 88723725u, 3175731469u, 3175731469u},
    {"LARGE_BIG_EXT 2^27", 11, "\x83\x6f\x00\x00\x00\x04\x00\x00\x00\x00\x08", 12354923u, 2562491755u, 2562491755u},
    {"SMALL_ATOM_EXT foo", 6, "\x83\x73\x03\x66\x6f\x6f", 27999u, 27999u, 27999u},
    {"ATOM_UTF8_EXT foo", 7, "\x83\x76\x00\x03\x66\x6f\x6f", 27999u, 27999u, 27999u},
    {"ATOM_EXT h\xe9llo latin1", 9, "\x83\x64\x00\x05\x68\xe9\x6c\x6c\x6f", 7799599u, 7799599u, 7799599u},
    {"LIST_EXT [1] tail STRING_EXT [2,3]", 13, "\x83\x6c\x00\x00\x00\x01\x61\x01\x6b\x00\x02\x02\x03", 25788620u, 4186538188u, 4186538188u},
    {"LIST_EXT 0 elements, tail 5", 8, "\x83\x6c\x00\x00\x00\x00\x61\x05", 5878562u, 676967202u, 676967202u},
    {"LIST_EXT [97,98,99] as SMALL_INTEGER_EXTs", 13, "\x83\x6c\x00\x00\x00\x03\x61\x61\x61\x62\x61\x63\x6a", 117343302u, 519996486u, 519996486u},
    {"STRING_EXT empty", 4, "\x83\x6b\x00\x00", 113427502u, 3468870702u, 3468870702u},
    {"PID_EXT", 21, "\x83\x67\x64\x00\x07\x6e\x31\x40\x68\x6f\x73\x74\x00\x00\x00\x2a\x00\x00\x00\x07\x03", 100488000u, 4127019840u, 4127019840u},
    {"PORT_EXT", 17, "\x83\x66\x64\x00\x07\x6e\x31\x40\x68\x6f\x73\x74\x00\x00\x00\x09\x03", 35275898u, 3256501370u, 3256501370u},
    {"NEW_REFERENCE_EXT", 27, "\x83\x72\x00\x03\x64\x00\x07\x6e\x31\x40\x68\x6f\x73\x74\x03\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03", 118531908u, 118531908u, 118531908u},
    {"REFERENCE_EXT", 17, "\x83\x65\x64\x00\x07\x6e\x31\x40\x68\x6f\x73\x74\x00\x00\x00\x01\x03", 118531908u, 118531908u, 118531908u},
    {"BIT_BINARY_EXT 8 bits", 10, "\x83\x4d\x00\x00\x00\x03\x08\x61\x62\x63", 98228475u, 1306188027u, 1306188027u},
    {"BIT_BINARY_EXT dirty low bits", 9, "\x83\x4d\x00\x00\x00\x02\x04\xff\x7f", 98154940u, 3587815868u, 3587815868u},
    {"FLOAT_EXT 1.5", 33, "\x83\x63\x31\x2e\x35\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x65\x2b\x30\x30\x00\x00\x00\x00\x00", 10380315u, 2023646235u, 2023646235u},
    {"LARGE_TUPLE_EXT {a,b}", 14, "\x83\x69\x00\x00\x00\x02\x64\x00\x01\x61\x64\x00\x01\x62", 101277806u, 1980325998u, 1980325998u},
    {"MAP_EXT pairs reversed", 17, "\x83\x74\x00\x00\x00\x02\x64\x00\x01\x62\x6a\x61\x01\x64\x00\x01\x61", 40186482u, 2053452402u, 2053452402u},
};

#define NVECTORS (sizeof vectors / sizeof vectors[0])

static void test_vectors(void) {
    for (size_t i = 0; i < NVECTORS; i++) {
        const vector_t *v = &vectors[i];
        uint32_t h27 = 0, h32 = 0, raw = 0, at = 0;
        CU_ASSERT_EQUAL_FATAL(sw_phash2(v->bytes, v->len, 0, &h27), 0);
        CU_ASSERT_EQUAL(sw_phash2(v->bytes, v->len, SW_PHASH2_RANGE_RING, &h32), 0);
        CU_ASSERT_EQUAL(sw_phash2_hash(v->bytes, v->len, &raw), 0);
        int idx = 1;
        CU_ASSERT_EQUAL(sw_phash2_at(v->bytes, v->len, &idx, SW_PHASH2_RANGE_RING, &at), 0);
        CU_ASSERT_EQUAL((size_t)idx, v->len);
        if (h27 != v->h27 || h32 != v->h32r || raw != v->raw || at != v->h32r)
            fprintf(stderr, "\nvector %s: got %u %u %u %u, want %u %u %u\n", v->name, h27, h32,
                    raw, at, v->h27, v->h32r, v->raw);
        CU_ASSERT_EQUAL(h27, v->h27);
        CU_ASSERT_EQUAL(h32, v->h32r);
        CU_ASSERT_EQUAL(raw, v->raw);
        CU_ASSERT_EQUAL(at, v->h32r);
    }
}

static void test_ranges(void) {
    uint32_t out;
    CU_ASSERT_EQUAL(sw_phash2_apply_range(0xdeadbeefu, 0, &out), 0);
    CU_ASSERT_EQUAL(out, 0xdeadbeefu & ((1u << 27) - 1));
    CU_ASSERT_EQUAL(sw_phash2_apply_range(0xdeadbeefu, 1, &out), 0);
    CU_ASSERT_EQUAL(out, 0);
    CU_ASSERT_EQUAL(sw_phash2_apply_range(0xdeadbeefu, (uint64_t)1 << 32, &out), 0);
    CU_ASSERT_EQUAL(out, 0xdeadbeefu);
    CU_ASSERT_EQUAL(sw_phash2_apply_range(0xffffffffu, 4294967295u, &out), 0);
    CU_ASSERT_EQUAL(out, 0);
    CU_ASSERT_EQUAL(sw_phash2_apply_range(7, 5, &out), 0);
    CU_ASSERT_EQUAL(out, 2);
    CU_ASSERT_EQUAL(sw_phash2_apply_range(7, ((uint64_t)1 << 32) + 1, &out), SW_PHASH2_EINVAL);
    CU_ASSERT_EQUAL(sw_phash2_apply_range(7, 5, NULL), SW_PHASH2_EINVAL);
    CU_ASSERT_EQUAL(sw_phash2("\x83\x61\x01", 3, ((uint64_t)1 << 32) + 1, &out), SW_PHASH2_EINVAL);
}

static void test_bytes(void) {
    uint32_t out;
    /* erlang:phash2(<<"abc">>, 1 bsl 32) and erlang:phash2(<<>>, 1 bsl 32) */
    CU_ASSERT_EQUAL(sw_phash2_bytes("abc", 3, (uint64_t)1 << 32, &out), 0);
    CU_ASSERT_EQUAL(out, 1306188027u);
    CU_ASSERT_EQUAL(sw_phash2_bytes(NULL, 0, (uint64_t)1 << 32, &out), 0);
    CU_ASSERT_EQUAL(out, 147926629u);
    CU_ASSERT_EQUAL(sw_phash2_bytes(NULL, 1, 0, &out), SW_PHASH2_EINVAL);
}

/* A buffer whose last byte sits just before an inaccessible page, so that
 * any read past the end faults even without ASan. */
typedef struct {
    char *map;
    size_t page;
} guard_t;

static int guard_init(guard_t *g) {
    g->page = (size_t)sysconf(_SC_PAGESIZE);
    g->map = mmap(NULL, 2 * g->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED) return -1;
    if (mprotect(g->map + g->page, g->page, PROT_NONE) != 0) return -1;
    return 0;
}

static char *guard_place(guard_t *g, const char *data, size_t len) {
    char *p = g->map + g->page - len;
    memcpy(p, data, len);
    return p;
}

static void guard_close(guard_t *g) { munmap(g->map, 2 * g->page); }

static void test_truncated(void) {
    guard_t g;
    CU_ASSERT_FATAL(guard_init(&g) == 0);
    for (size_t i = 0; i < NVECTORS; i++) {
        const vector_t *v = &vectors[i];
        if (v->len > g.page) continue;
        for (size_t n = 0; n < v->len; n++) {
            uint32_t h = 0;
            char *p = guard_place(&g, v->bytes, n);
            int rc = sw_phash2_hash(p, n, &h);
            CU_ASSERT(rc < 0);
            if (rc >= 0) fprintf(stderr, "\n%s: prefix %zu accepted\n", v->name, n);
            int idx = 1;
            if (n >= 1) {
                rc = sw_phash2_hash_at(p, n, &idx, &h);
                CU_ASSERT(rc < 0);
                CU_ASSERT_EQUAL(idx, 1); /* unchanged on failure */
            }
        }
        /* The whole term against the guard page still works. */
        uint32_t h = 0;
        char *p = guard_place(&g, v->bytes, v->len);
        CU_ASSERT_EQUAL(sw_phash2_hash(p, v->len, &h), 0);
        CU_ASSERT_EQUAL(h, v->raw);
    }
    guard_close(&g);
}

/* xorshift64*: the tests' own seeded generator (no global state). */
static uint64_t next_rand(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void test_garbage(void) {
    guard_t g;
    uint64_t seed = 0x5eed1234abcdull;
    char buf[512];
    unsigned ok = 0, err = 0;
    CU_ASSERT_FATAL(guard_init(&g) == 0);
    /* Random bytes after the version byte, biased towards real tags. */
    static const unsigned char tags[] = {97, 98, 99, 70, 100, 115, 118, 119, 101, 114, 90, 102, 89,
                                         120, 103, 88, 104, 105, 106, 107, 108, 109, 77, 110, 111,
                                         112, 113, 116, 0, 255};
    for (int round = 0; round < 200000; round++) {
        size_t n = 1 + next_rand(&seed) % 64;
        buf[0] = (char)131;
        for (size_t i = 1; i < n; i++) {
            uint64_t r = next_rand(&seed);
            buf[i] = (r & 1) ? (char)tags[(r >> 8) % sizeof tags] : (char)(r >> 16);
            if ((r & 6) == 0) buf[i] = (char)((r >> 24) % 4); /* small lengths */
        }
        uint32_t h;
        int rc = sw_phash2_hash(guard_place(&g, buf, n), n, &h);
        if (rc == 0) ok++; else err++;
        CU_ASSERT(rc == 0 || (rc >= SW_PHASH2_ENOTSUP && rc <= SW_PHASH2_ETRUNC));
    }
    /* Mutations of the valid vectors: flip, replace, insert a tag. */
    for (size_t i = 0; i < NVECTORS; i++) {
        const vector_t *v = &vectors[i];
        if (v->len > sizeof buf) continue;
        for (int round = 0; round < 2000; round++) {
            memcpy(buf, v->bytes, v->len);
            int k = 1 + (int)(next_rand(&seed) % 3);
            while (k--) {
                uint64_t r = next_rand(&seed);
                size_t at = 1 + r % (v->len - 1);
                buf[at] = (r >> 32) & 1 ? (char)(buf[at] ^ (1 << ((r >> 40) % 8))) : (char)(r >> 48);
            }
            uint32_t h;
            int rc = sw_phash2_hash(guard_place(&g, buf, v->len), v->len, &h);
            CU_ASSERT(rc == 0 || (rc >= SW_PHASH2_ENOTSUP && rc <= SW_PHASH2_ETRUNC));
        }
    }
    guard_close(&g);
    CU_ASSERT(err > 0);
}

static void test_errors(void) {
    uint32_t h;
    int idx = 0;
    CU_ASSERT_EQUAL(sw_phash2_hash("\x84\x61\x01", 3, &h), SW_PHASH2_EVERSION);
    CU_ASSERT_EQUAL(sw_phash2_hash("", 0, &h), SW_PHASH2_ETRUNC);
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83", 1, &h), SW_PHASH2_ETRUNC);
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x61\x01\x00", 4, &h), SW_PHASH2_ETRAILING);
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x00", 2, &h), SW_PHASH2_EBADTAG);
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x52\x00", 3, &h), SW_PHASH2_EBADTAG); /* atom cache ref */
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x50\x00\x00\x00\x01\x78\x9c", 8, &h), SW_PHASH2_ENOTSUP);
    CU_ASSERT_EQUAL(sw_phash2_hash(NULL, 3, &h), SW_PHASH2_EINVAL);
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x6a", 2, NULL), SW_PHASH2_EINVAL);
    CU_ASSERT_EQUAL(sw_phash2_hash_at("\x6a", 1, NULL, &h), SW_PHASH2_EINVAL);
    idx = -1;
    CU_ASSERT_EQUAL(sw_phash2_hash_at("\x6a", 1, &idx, &h), SW_PHASH2_EINVAL);
    idx = 2;
    CU_ASSERT_EQUAL(sw_phash2_hash_at("\x6a", 1, &idx, &h), SW_PHASH2_ETRUNC);
    /* What binary_to_term rejects. */
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x77\x02\xc3\x28", 5, &h), SW_PHASH2_EBADTERM);   /* bad UTF-8 */
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x77\x02\xc1\x81", 5, &h), SW_PHASH2_EBADTERM);   /* overlong */
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x77\x03\xed\xa0\x80", 6, &h), SW_PHASH2_EBADTERM); /* surrogate */
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x77\x04\xf4\x90\x80\x80", 7, &h), SW_PHASH2_EBADTERM);
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x46\x7f\xf8\x00\x00\x00\x00\x00\x00", 10, &h),
                    SW_PHASH2_EBADTERM); /* NaN */
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x4d\x00\x00\x00\x01\x00\xff", 8, &h), SW_PHASH2_EBADTERM);
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x4d\x00\x00\x00\x01\x09\xff", 8, &h), SW_PHASH2_EBADTERM);
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x4d\x00\x00\x00\x00\x08", 7, &h), SW_PHASH2_EBADTERM);
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x6e\x01\x02\x05", 5, &h), SW_PHASH2_EBADTERM); /* sign 2 */
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x58\x61\x01", 4, &h), SW_PHASH2_EBADTERM); /* pid node */
    {
        char a[4 + 256];
        memcpy(a, "\x83\x64\x01\x00", 4);
        memset(a + 4, 'a', 256);
        CU_ASSERT_EQUAL(sw_phash2_hash(a, sizeof a, &h), SW_PHASH2_EBADTERM); /* 256 chars */
        a[2] = 0;
        a[3] = (char)255;
        CU_ASSERT_EQUAL(sw_phash2_hash(a, sizeof a - 1, &h), 0);
    }
    /* Accepted: an empty bitstring written as BIT_BINARY_EXT 0 bits. */
    CU_ASSERT_EQUAL(sw_phash2_hash("\x83\x4d\x00\x00\x00\x00\x00", 7, &h), 0);
    CU_ASSERT_EQUAL(h, 147926629u); /* phash2(<<>>, 1 bsl 32) */

    CU_ASSERT_STRING_EQUAL(sw_phash2_err_name(SW_PHASH2_ETRUNC), "SW_PHASH2_ETRUNC");
    CU_ASSERT_STRING_EQUAL(sw_phash2_err_name(SW_PHASH2_ENOTSUP), "SW_PHASH2_ENOTSUP");
    CU_ASSERT_STRING_EQUAL(sw_phash2_err_name(12345), "unknown");
    CU_ASSERT(strlen(sw_phash2_strerror(SW_PHASH2_EDEPTH)) > 0);
}

/* Builds <<131, (n times LIST_EXT 1 element | SMALL_TUPLE_EXT 1)>> ... */
static char *nested(size_t depth, int tuple, size_t *len) {
    size_t per = tuple ? 2 : 5, tail = tuple ? 2 : depth + 1;
    char *b = malloc(1 + depth * per + tail);
    char *p = b;
    if (!b) return NULL;
    *p++ = (char)131;
    for (size_t i = 0; i < depth; i++) {
        if (tuple) {
            *p++ = 104;
            *p++ = 1;
        } else {
            memcpy(p, "\x6c\x00\x00\x00\x01", 5);
            p += 5;
        }
    }
    if (tuple) {
        *p++ = 104; /* {} */
        *p++ = 0;
    } else {
        for (size_t i = 0; i <= depth; i++) *p++ = 106; /* the innermost [] and every tail */
    }
    *len = (size_t)(p - b);
    return b;
}

static void test_deep(void) {
    size_t len;
    uint32_t h;
    /* lists:foldl(fun(_, A) -> [A] end, [], lists:seq(1, 100000)) */
    char *b = nested(100000, 0, &len);
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT_EQUAL(sw_phash2_hash(b, len, &h), 0);
    CU_ASSERT_EQUAL(h, 4276146740u);
    free(b);
    /* the same with {A} */
    b = nested(100000, 1, &len);
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT_EQUAL(sw_phash2_hash(b, len, &h), 0);
    CU_ASSERT_EQUAL(h, 2747071206u);
    free(b);
    /* Deeper than the limit: refused, not a stack overflow. */
    b = nested(SW_PHASH2_MAX_DEPTH + 1, 1, &len);
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT_EQUAL(sw_phash2_hash(b, len, &h), SW_PHASH2_EDEPTH);
    free(b);
}

static void test_long_lists(void) {
    size_t n = 1000000, len;
    /* lists:duplicate(1000000, 300): LIST_EXT of INTEGER_EXTs */
    char *b = malloc(1 + 5 + n * 5 + 1), *p = b;
    uint32_t h;
    CU_ASSERT_FATAL(b != NULL);
    *p++ = (char)131;
    memcpy(p, "\x6c\x00\x0f\x42\x40", 5);
    p += 5;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, "\x62\x00\x00\x01\x2c", 5);
        p += 5;
    }
    *p++ = 106;
    len = (size_t)(p - b);
    CU_ASSERT_EQUAL(sw_phash2_hash(b, len, &h), 0);
    CU_ASSERT_EQUAL(h, 2595562186u);
    free(b);
    /* [I rem 256 || I <- lists:seq(1, 1000000)]: byte elements */
    b = malloc(1 + 5 + n * 2 + 1);
    p = b;
    CU_ASSERT_FATAL(b != NULL);
    *p++ = (char)131;
    memcpy(p, "\x6c\x00\x0f\x42\x40", 5);
    p += 5;
    for (size_t i = 1; i <= n; i++) {
        *p++ = 97;
        *p++ = (char)(i % 256);
    }
    *p++ = 106;
    len = (size_t)(p - b);
    CU_ASSERT_EQUAL(sw_phash2_hash(b, len, &h), 0);
    CU_ASSERT_EQUAL(h, 3371040594u);
    free(b);
}

static void test_atom_text(void) {
    char out[SW_PHASH2_ATOM_MAX_UTF8 + 1];
    size_t n;
    int latin1, idx = 0;
    CU_ASSERT_EQUAL(sw_phash2_atom_text("\x64\x00\x05h\xe9llo", 8, &idx, out, &n, &latin1), 0);
    CU_ASSERT_EQUAL(idx, 8);
    CU_ASSERT_EQUAL(n, 6);
    CU_ASSERT_STRING_EQUAL(out, "h\xc3\xa9llo");
    CU_ASSERT_EQUAL(latin1, 1);
    idx = 0;
    CU_ASSERT_EQUAL(sw_phash2_atom_text("\x77\x06\xe6\x97\xa5\xe6\x9c\xac", 8, &idx, out, &n, &latin1), 0);
    CU_ASSERT_EQUAL(n, 6);
    CU_ASSERT_EQUAL(latin1, 0);
    idx = 0;
    CU_ASSERT_EQUAL(sw_phash2_atom_text("\x61\x01", 2, &idx, out, &n, &latin1), SW_PHASH2_EBADTAG);
    CU_ASSERT_EQUAL(idx, 0);
    CU_ASSERT_EQUAL(sw_phash2_atom_text("\x77\x03" "ab", 4, &idx, out, &n, NULL), SW_PHASH2_ETRUNC);
}

int test_phash2_suite(void) {
    CU_pSuite s = CU_add_suite("phash2", NULL, NULL);
    if (!s) return -1;
    if (!CU_add_test(s, "BEAM vectors", test_vectors) ||
        !CU_add_test(s, "ranges", test_ranges) ||
        !CU_add_test(s, "binary bytes", test_bytes) ||
        !CU_add_test(s, "truncated at a guard page", test_truncated) ||
        !CU_add_test(s, "garbage and mutations", test_garbage) ||
        !CU_add_test(s, "errors", test_errors) ||
        !CU_add_test(s, "deep nesting", test_deep) ||
        !CU_add_test(s, "long lists", test_long_lists) ||
        !CU_add_test(s, "atom text", test_atom_text))
        return -1;
    return 0;
}

/*
 * regloop: the C baseline of the lab's real-KVM speed measurement (lab/README.md, "Real-KVM speed").
 *
 * One round does, on /dev/kvm, exactly the ioctls that src/bench/kvm-guest.ts's "ioctl loop" does
 * through guestabi's koffi backend:
 *   save:    KVM_CREATE_VM; KVM_CREATE_VCPU x N (+ mmap of each kvm_run); KVM_ARM_PREFERRED_TARGET;
 *            KVM_ARM_VCPU_INIT (PSCI_0_2) of each vCPU; then per vCPU KVM_GET_REG_LIST (n = 0, E2BIG,
 *            then the full list: what guestabi's getRegList does), ids sorted ascending, and a
 *            KVM_GET_ONE_REG of every id.
 *   restore: a second VM made the same way; KVM_SET_ONE_REG of every saved register of every vCPU,
 *            then KVM_GET_ONE_REG of each again and a compare with what was written.
 * KVM has no batched ONE_REG ioctl: KVM_GET_REG_LIST is its only list call, so one ioctl per register
 * is the floor on both sides.
 *
 *   regloop [--vcpus N] [--rounds R] [--dump]
 * Prints one JSON object: per-round save and restore nanoseconds (CLOCK_MONOTONIC around the ioctls
 * only), the register count of each vCPU, and with --dump the ids and saved bytes of every vCPU and
 * the ids whose read-back differed from what was written (of the last round).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_VCPUS 64
#define MAX_REG_BYTES 256 /* KVM_REG_SIZE_U2048 */

struct vcpu_state {
  int fd;
  void *run;
  uint64_t n;
  uint64_t *ids;
  uint8_t *values; /* n slots of MAX_REG_BYTES */
};

static long mmap_size;

static void die(const char *what) {
  fprintf(stderr, "regloop: %s: %s\n", what, strerror(errno));
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static size_t reg_size(uint64_t id) { return (size_t)1 << ((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT); }

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* A VM with `n` initialised vCPUs (PSCI 0.2), as both sides make it. */
static int make_vm(int kvm, int n, struct vcpu_state *v) {
  int vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
  if (vm < 0) die("KVM_CREATE_VM");
  for (int i = 0; i < n; i++) {
    v[i].fd = ioctl(vm, KVM_CREATE_VCPU, (unsigned long)i);
    if (v[i].fd < 0) die("KVM_CREATE_VCPU");
    v[i].run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v[i].fd, 0);
    if (v[i].run == MAP_FAILED) die("mmap kvm_run");
  }
  struct kvm_vcpu_init init;
  memset(&init, 0, sizeof init);
  if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) < 0) die("KVM_ARM_PREFERRED_TARGET");
  memset(init.features, 0, sizeof init.features);
  init.features[0] = 1u << KVM_ARM_VCPU_PSCI_0_2;
  for (int i = 0; i < n; i++)
    if (ioctl(v[i].fd, KVM_ARM_VCPU_INIT, &init) < 0) die("KVM_ARM_VCPU_INIT");
  return vm;
}

static void free_vm(int vm, int n, struct vcpu_state *v) {
  for (int i = 0; i < n; i++) {
    munmap(v[i].run, (size_t)mmap_size);
    close(v[i].fd);
  }
  close(vm);
}

/* KVM_GET_REG_LIST with n = 0 (E2BIG tells the count), then the whole list. */
static void reg_list(struct vcpu_state *v) {
  struct kvm_reg_list probe = {.n = 0};
  if (ioctl(v->fd, KVM_GET_REG_LIST, &probe) == 0 || errno != E2BIG) die("KVM_GET_REG_LIST (count)");
  struct kvm_reg_list *list = malloc(sizeof *list + probe.n * sizeof(uint64_t));
  if (!list) die("malloc");
  list->n = probe.n;
  if (ioctl(v->fd, KVM_GET_REG_LIST, list) < 0) die("KVM_GET_REG_LIST");
  free(v->ids);
  free(v->values);
  v->n = list->n;
  v->ids = malloc(v->n * sizeof(uint64_t));
  v->values = calloc(v->n, MAX_REG_BYTES);
  if (!v->ids || !v->values) die("malloc");
  memcpy(v->ids, list->reg, v->n * sizeof(uint64_t));
  free(list);
  qsort(v->ids, v->n, sizeof(uint64_t), cmp_u64);
}

static void get_reg(int fd, uint64_t id, uint8_t *out) {
  struct kvm_one_reg r = {.id = id, .addr = (uint64_t)(uintptr_t)out};
  memset(out, 0, reg_size(id)); /* KVM writes only KVM_REG_SIZE(id) bytes */
  if (ioctl(fd, KVM_GET_ONE_REG, &r) < 0) {
    fprintf(stderr, "regloop: KVM_GET_ONE_REG 0x%016llx: %s\n", (unsigned long long)id, strerror(errno));
    exit(1);
  }
}

static void print_hex(const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
}

int main(int argc, char **argv) {
  int nvcpus = 4, rounds = 5, dump = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--vcpus") && i + 1 < argc) nvcpus = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--dump")) dump = 1;
    else {
      fprintf(stderr, "usage: regloop [--vcpus N] [--rounds R] [--dump]\n");
      return 2;
    }
  }
  if (nvcpus < 1 || nvcpus > MAX_VCPUS || rounds < 1) {
    fprintf(stderr, "regloop: --vcpus must be 1..%d and --rounds at least 1\n", MAX_VCPUS);
    return 2;
  }
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0UL);
  if (mmap_size <= 0) die("KVM_GET_VCPU_MMAP_SIZE");

  static struct vcpu_state src[MAX_VCPUS], dst[MAX_VCPUS];
  static uint8_t back[MAX_REG_BYTES];
  uint64_t *save_ns = calloc((size_t)rounds, sizeof(uint64_t));
  uint64_t *restore_ns = calloc((size_t)rounds, sizeof(uint64_t));
  uint8_t **differs = calloc((size_t)nvcpus, sizeof(uint8_t *));
  if (!save_ns || !restore_ns || !differs) die("malloc");

  for (int round = 0; round < rounds; round++) {
    uint64_t t0 = now_ns();
    int vm = make_vm(kvm, nvcpus, src);
    for (int i = 0; i < nvcpus; i++) {
      reg_list(&src[i]);
      for (uint64_t j = 0; j < src[i].n; j++) get_reg(src[i].fd, src[i].ids[j], src[i].values + j * MAX_REG_BYTES);
    }
    uint64_t t1 = now_ns();
    int vm2 = make_vm(kvm, nvcpus, dst);
    for (int i = 0; i < nvcpus; i++)
      for (uint64_t j = 0; j < src[i].n; j++) {
        struct kvm_one_reg r = {.id = src[i].ids[j], .addr = (uint64_t)(uintptr_t)(src[i].values + j * MAX_REG_BYTES)};
        if (ioctl(dst[i].fd, KVM_SET_ONE_REG, &r) < 0) {
          fprintf(stderr, "regloop: KVM_SET_ONE_REG 0x%016llx: %s\n", (unsigned long long)r.id, strerror(errno));
          return 1;
        }
      }
    for (int i = 0; i < nvcpus; i++) {
      free(differs[i]);
      differs[i] = calloc(src[i].n, 1);
      if (!differs[i]) die("malloc");
      for (uint64_t j = 0; j < src[i].n; j++) {
        uint64_t id = src[i].ids[j];
        get_reg(dst[i].fd, id, back);
        differs[i][j] = memcmp(back, src[i].values + j * MAX_REG_BYTES, reg_size(id)) != 0;
      }
    }
    uint64_t t2 = now_ns();
    save_ns[round] = t1 - t0;
    restore_ns[round] = t2 - t1;
    free_vm(vm2, nvcpus, dst);
    free_vm(vm, nvcpus, src);
  }

  printf("{\"program\":\"regloop\",\"vcpus\":%d,\"regs\":[", nvcpus);
  for (int i = 0; i < nvcpus; i++) printf("%s%llu", i ? "," : "", (unsigned long long)src[i].n);
  printf("],\"rounds\":[");
  for (int r = 0; r < rounds; r++)
    printf("%s{\"saveNs\":%llu,\"restoreNs\":%llu}", r ? "," : "", (unsigned long long)save_ns[r],
           (unsigned long long)restore_ns[r]);
  printf("]");
  if (dump) {
    printf(",\"saved\":[");
    for (int i = 0; i < nvcpus; i++) {
      printf("%s{", i ? "," : "");
      for (uint64_t j = 0; j < src[i].n; j++) {
        printf("%s\"0x%016llx\":\"", j ? "," : "", (unsigned long long)src[i].ids[j]);
        print_hex(src[i].values + j * MAX_REG_BYTES, reg_size(src[i].ids[j]));
        printf("\"");
      }
      printf("}");
    }
    printf("],\"readBackDiffers\":[");
    for (int i = 0; i < nvcpus; i++) {
      printf("%s[", i ? "," : "");
      int first = 1;
      for (uint64_t j = 0; j < src[i].n; j++)
        if (differs[i][j]) {
          printf("%s\"0x%016llx\"", first ? "" : ",", (unsigned long long)src[i].ids[j]);
          first = 0;
        }
      printf("]");
    }
    printf("]");
  }
  printf("}\n");
  return 0;
}

package server

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
)

// procHostStats reads the host's CPU and memory use from /proc (Linux);
// elsewhere it reports zeros. CPU use is measured between two calls.
func procHostStats() hostStats {
	var mu sync.Mutex
	lastBusy, lastTotal, _ := readCPU() // a first sample, so the first answer is a real measure
	return func() (cpu, memory float64) {
		mu.Lock()
		defer mu.Unlock()
		if busy, total, ok := readCPU(); ok {
			if total > lastTotal && lastTotal > 0 {
				cpu = float64(busy-lastBusy) / float64(total-lastTotal) * 100
			}
			lastBusy, lastTotal = busy, total
		}
		return cpu, readMemory()
	}
}

func readCPU() (busy, total uint64, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, false
	}
	for i, field := range fields[1:] {
		v, err := strconv.ParseUint(field, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i != 3 && i != 4 { // idle and iowait
			busy += v
		}
	}
	return busy, total, true
}

func readMemory() float64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	var total, available float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "MemTotal:":
			total = v
		case "MemAvailable:":
			available = v
		}
	}
	if total == 0 {
		return 0
	}
	return (total - available) / total * 100
}

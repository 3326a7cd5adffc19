package client

import (
	"fmt"
	"sync"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Extraction reports one diocese's extraction from start to finish, like
// the context manager of the Python workers:
//
//	ex := c.StartExtraction("Diocese of Erie", int64(len(parishes)))
//	defer func() { ex.Finish(err) }()
//	for ... {
//		ex.Progress(processed, successful)
//	}
//
// Its methods never block and are safe for concurrent use.
type Extraction struct {
	c       *Client
	diocese string
	total   int64
	started time.Time

	mu                    sync.Mutex
	processed, successful int64
	finished              bool
}

// StartExtraction reports a running extraction of totalParishes parishes
// of diocese, started now, and logs its start.
func (c *Client) StartExtraction(diocese string, totalParishes int64) *Extraction {
	ex := &Extraction{c: c, diocese: diocese, total: max(totalParishes, 0), started: c.now()}
	c.UpdateExtractionStatus(ex.status(ex.started))
	c.Log("INFO", "extraction", fmt.Sprintf("Started extraction for %s (%d parishes)", diocese, ex.total))
	return ex
}

// Progress reports that processed parishes are done, successful of them
// successfully, and estimates completion from the rate so far. It does
// nothing after Finish.
func (ex *Extraction) Progress(processed, successful int64) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.finished {
		return
	}
	ex.processed = max(processed, 0)
	ex.successful = min(max(successful, 0), ex.processed)
	ex.c.UpdateExtractionStatus(ex.status(ex.c.now()))
}

// Finish reports the outcome: a completion ("completed", or "failed" with
// an ExtractionError event when err is not nil), a log line, and an idle
// status. Only the first call counts.
func (ex *Extraction) Finish(err error) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.finished {
		return
	}
	ex.finished = true
	c := ex.c
	done := &musterv1.CompletedExtraction{
		DioceseName:       ex.diocese,
		ParishesExtracted: ex.processed,
		SuccessRate:       percent(ex.successful, ex.processed),
		Duration:          max(c.now().Sub(ex.started).Seconds(), 0),
		Status:            "completed",
	}
	if err != nil {
		done.Status = "failed"
		c.ReportError(&musterv1.ErrorEvent{
			Type:     "ExtractionError",
			Message:  "Extraction failed: " + err.Error(),
			Diocese:  proto.String(ex.diocese),
			Severity: "error",
		})
		c.Log("ERROR", "extraction", fmt.Sprintf("Failed %s after %d parishes: %v", ex.diocese, ex.processed, err))
	} else {
		c.Log("INFO", "extraction", fmt.Sprintf("Completed %s: %d parishes, %.1f%% success", ex.diocese, ex.processed, done.SuccessRate))
	}
	c.ReportCompletion(done)
	c.UpdateExtractionStatus(&musterv1.ExtractionStatus{Status: musterv1.ExtractionState_EXTRACTION_STATE_IDLE})
}

func (ex *Extraction) status(now time.Time) *musterv1.ExtractionStatus {
	st := &musterv1.ExtractionStatus{
		Status:             musterv1.ExtractionState_EXTRACTION_STATE_RUNNING,
		CurrentDiocese:     proto.String(ex.diocese),
		ParishesProcessed:  ex.processed,
		TotalParishes:      ex.total,
		SuccessRate:        percent(ex.successful, ex.processed),
		ProgressPercentage: percent(ex.processed, ex.total),
		StartedAt:          timestamppb.New(ex.started),
	}
	if ex.processed > 0 && ex.total > 0 {
		// Assume the rest goes as fast as what is done.
		left := max(ex.total-ex.processed, 0)
		perParish := float64(now.Sub(ex.started)) / float64(ex.processed)
		st.EstimatedCompletion = timestamppb.New(now.Add(time.Duration(perParish * float64(left))))
	}
	return st
}

// percent is part of whole in percent, within the 0-100 the server accepts.
func percent(part, whole int64) float64 {
	if whole <= 0 {
		return 0
	}
	return min(float64(part)/float64(whole)*100, 100)
}

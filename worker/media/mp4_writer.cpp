#include "worker/media/mp4_writer.hpp"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/dict.h>
#include <libavutil/log.h>
#include <libswresample/swresample.h>
}

#include "worker/media/frame_convert.hpp"
#include "worker/media/part_file.hpp"

namespace ff::media {
namespace {

std::string av_error(int rc) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(rc, buf, sizeof buf);
  return buf;
}

void check(int rc, const std::string& step) {
  if (rc < 0) throw MediaError(step + ": " + av_error(rc));
}

// Owners of the FFmpeg objects: freed on every path, including exceptions.
struct FreeCodec {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FreeFrame {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct FreePacket {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FreeSwr {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
struct FreeFifo {
  void operator()(AVAudioFifo* f) const { av_audio_fifo_free(f); }
};
struct Dict {
  AVDictionary* d = nullptr;
  ~Dict() { av_dict_free(&d); }
};
struct Output {
  AVFormatContext* fmt = nullptr;
  ~Output() {
    if (!fmt) return;
    if (fmt->pb && !(fmt->oformat->flags & AVFMT_NOFILE)) avio_closep(&fmt->pb);
    avformat_free_context(fmt);
  }
};
using CodecPtr = std::unique_ptr<AVCodecContext, FreeCodec>;
using FramePtr = std::unique_ptr<AVFrame, FreeFrame>;

std::string leftover_keys(const AVDictionary* d) {
  std::string keys;
  const AVDictionaryEntry* e = nullptr;
  while ((e = av_dict_get(d, "", e, AV_DICT_IGNORE_SUFFIX)))
    keys += (keys.empty() ? "" : ", ") + std::string(e->key);
  return keys;
}

class Writer {
 public:
  Writer(clip::ClipReader& clip, const std::string& path, const Mp4Options& o)
      : clip_(clip), h_(clip.header()), path_(path), opt_(o) {}

  Mp4Info run(const KeepGoing& keep_going) {
    if (h_.width % 2 != 0 || h_.height % 2 != 0)
      throw MediaError("check size: the clip is " + std::to_string(h_.width) + "x" + std::to_string(h_.height) +
                       "; H.264 yuv420p needs an even width and height");
    with_audio_ = opt_.audio && h_.has_audio();
    PartFile part(path_);
    check(avformat_alloc_output_context2(&out_.fmt, nullptr, "mp4", part.path().c_str()),
          "allocate the mp4 muxer");
    if (!out_.fmt) throw MediaError("allocate the mp4 muxer: no context");
    open_video();
    if (with_audio_) open_audio();
    check(avio_open(&out_.fmt->pb, part.path().c_str(), AVIO_FLAG_WRITE), "create " + part.path());
    {
      Dict mux;
      av_dict_set(&mux.d, "movflags", "+faststart", 0);
      check(avformat_write_header(out_.fmt, &mux.d), "write the mp4 header");
    }
    pkt_.reset(av_packet_alloc());
    if (!pkt_) throw MediaError("allocate a packet: out of memory");

    std::vector<uint8_t> rgb(h_.frame_bytes());
    for (int32_t i = 0; i < h_.frames; ++i) {
      if (keep_going && !keep_going(i))
        throw MediaError("cancelled after " + std::to_string(i) + " of " + std::to_string(h_.frames) + " frames");
      clip_.read_frame(i, rgb);
      check(av_frame_make_writable(vframe_.get()), "make the video frame writable");
      rgb24_to_yuv420p_bt709(rgb.data(), h_.width, h_.height, vframe_->data[0], vframe_->linesize[0],
                             vframe_->data[1], vframe_->linesize[1], vframe_->data[2], vframe_->linesize[2]);
      vframe_->pts = i;
      encode(venc_.get(), vstream_, vframe_.get(), "encode video frame " + std::to_string(i));
      if (with_audio_) feed_audio(std::min<int64_t>(audio_in_end_for_frame(i + 1), h_.audio_samples), false);
    }
    encode(venc_.get(), vstream_, nullptr, "flush the video encoder");
    if (with_audio_) {
      feed_audio(h_.audio_samples, true);
      encode(aenc_.get(), astream_, nullptr, "flush the audio encoder");
    }
    check(av_write_trailer(out_.fmt), "write the mp4 trailer");
    check(avio_closep(&out_.fmt->pb), "close " + part.path());
    part.commit();

    Mp4Info info;
    info.frames = h_.frames;
    info.width = h_.width;
    info.height = h_.height;
    info.fps_num = h_.fps_num;
    info.fps_den = h_.fps_den;
    info.duration_s = static_cast<double>(h_.frames) * h_.fps_den / h_.fps_num;
    if (with_audio_) {
      info.audio_sample_rate = kAacSampleRate;
      info.audio_channels = kAacChannels;
      info.duration_s = std::max(info.duration_s, static_cast<double>(h_.audio_samples) / h_.audio_sample_rate);
    }
    std::error_code ec;
    info.bytes = static_cast<int64_t>(std::filesystem::file_size(path_, ec));
    return info;
  }

 private:
  void open_video() {
    const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) throw MediaError("find encoder libx264: this FFmpeg has no libx264");
    vstream_ = avformat_new_stream(out_.fmt, nullptr);
    if (!vstream_) throw MediaError("add the video stream: out of memory");
    venc_.reset(avcodec_alloc_context3(codec));
    if (!venc_) throw MediaError("allocate the libx264 context: out of memory");
    AVCodecContext* c = venc_.get();
    c->width = h_.width;
    c->height = h_.height;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = AVRational{h_.fps_den, h_.fps_num};
    c->framerate = AVRational{h_.fps_num, h_.fps_den};
    c->sample_aspect_ratio = AVRational{1, 1};
    c->colorspace = AVCOL_SPC_BT709;
    c->color_range = AVCOL_RANGE_MPEG;
    c->color_primaries = AVCOL_PRI_BT709;
    c->color_trc = AVCOL_TRC_BT709;
    c->chroma_sample_location = AVCHROMA_LOC_CENTER;
    c->thread_count = opt_.threads;
    c->thread_type = FF_THREAD_FRAME;
    if (out_.fmt->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    Dict opts;
    av_dict_set(&opts.d, "crf", std::to_string(opt_.crf).c_str(), 0);
    av_dict_set(&opts.d, "preset", opt_.preset.c_str(), 0);
    check(avcodec_open2(c, codec, &opts.d), "open libx264 (crf " + std::to_string(opt_.crf) + ", preset " +
                                                opt_.preset + ")");
    if (av_dict_count(opts.d) > 0) throw MediaError("open libx264: options not accepted: " + leftover_keys(opts.d));
    check(avcodec_parameters_from_context(vstream_->codecpar, c), "copy the video parameters");
    vstream_->time_base = c->time_base;
    vstream_->avg_frame_rate = c->framerate;
    vframe_.reset(av_frame_alloc());
    if (!vframe_) throw MediaError("allocate the video frame: out of memory");
    vframe_->format = AV_PIX_FMT_YUV420P;
    vframe_->width = h_.width;
    vframe_->height = h_.height;
    vframe_->colorspace = AVCOL_SPC_BT709;
    vframe_->color_range = AVCOL_RANGE_MPEG;
    check(av_frame_get_buffer(vframe_.get(), 0), "allocate the video frame");
  }

  void open_audio() {
    const AVCodec* codec = avcodec_find_encoder_by_name("aac");
    if (!codec) throw MediaError("find encoder aac: this FFmpeg has no aac encoder");
    astream_ = avformat_new_stream(out_.fmt, nullptr);
    if (!astream_) throw MediaError("add the audio stream: out of memory");
    aenc_.reset(avcodec_alloc_context3(codec));
    if (!aenc_) throw MediaError("allocate the aac context: out of memory");
    AVCodecContext* c = aenc_.get();
    c->sample_fmt = AV_SAMPLE_FMT_FLTP;
    c->sample_rate = kAacSampleRate;
    av_channel_layout_default(&c->ch_layout, kAacChannels);
    c->time_base = AVRational{1, kAacSampleRate};
    if (out_.fmt->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    check(avcodec_open2(c, codec, nullptr), "open the aac encoder");
    check(avcodec_parameters_from_context(astream_->codecpar, c), "copy the audio parameters");
    astream_->time_base = c->time_base;
    frame_size_ = c->frame_size > 0 ? c->frame_size : 1024;

    // The reference feeds s16 stereo to the resampler, which converts to the encoder's fltp.
    AVChannelLayout in_layout{}, out_layout{};
    av_channel_layout_default(&in_layout, kAacChannels);
    av_channel_layout_default(&out_layout, kAacChannels);
    SwrContext* swr = nullptr;
    const int rc = swr_alloc_set_opts2(&swr, &out_layout, AV_SAMPLE_FMT_FLTP, kAacSampleRate, &in_layout,
                                       AV_SAMPLE_FMT_S16, h_.audio_sample_rate, 0, nullptr);
    av_channel_layout_uninit(&in_layout);
    av_channel_layout_uninit(&out_layout);
    swr_.reset(swr);
    check(rc, "configure the resampler (s16 " + std::to_string(h_.audio_sample_rate) + " Hz -> fltp 48000 Hz)");
    check(swr_init(swr_.get()), "start the resampler");
    fifo_.reset(av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, kAacChannels, frame_size_ * 4));
    if (!fifo_) throw MediaError("allocate the audio fifo: out of memory");
    audio_ = clip_.read_audio();
  }

  // Input samples (per channel) that cover frames [0, n): audio is interleaved with the video.
  int64_t audio_in_end_for_frame(int64_t n) const {
    return n * h_.fps_den * int64_t(h_.audio_sample_rate) / h_.fps_num;
  }

  // Resamples input samples [audio_in_pos_, in_end) into the fifo; `final` also drains the
  // resampler and sends the last, shorter frame.
  void feed_audio(int64_t in_end, bool final) {
    const int64_t n = std::max<int64_t>(0, in_end - audio_in_pos_);
    if (n > 0) {
      std::vector<int16_t> s16(static_cast<size_t>(n) * kAacChannels);
      const float* src = audio_.data() + audio_in_pos_ * h_.audio_channels;
      for (int64_t i = 0; i < n; ++i)
        for (int ch = 0; ch < kAacChannels; ++ch)  // mono: the one channel on both sides
          s16[i * kAacChannels + ch] = sample_to_s16(src[i * h_.audio_channels + std::min(ch, h_.audio_channels - 1)]);
      const uint8_t* in[1] = {reinterpret_cast<const uint8_t*>(s16.data())};
      resample(in, static_cast<int>(n));
      audio_in_pos_ = in_end;
    }
    if (final) resample(nullptr, 0);
    send_audio_frames(final);
  }

  void resample(const uint8_t** in, int n) {
    const int cap = swr_get_out_samples(swr_.get(), n);
    if (cap < 0) check(cap, "size the resampler output");
    if (cap == 0) return;
    std::vector<float> left(cap), right(cap);
    uint8_t* out[2] = {reinterpret_cast<uint8_t*>(left.data()), reinterpret_cast<uint8_t*>(right.data())};
    const int got = swr_convert(swr_.get(), out, cap, in, n);
    check(got, "resample audio");
    if (got > 0 && av_audio_fifo_write(fifo_.get(), reinterpret_cast<void**>(out), got) < got)
      throw MediaError("buffer resampled audio: out of memory");
  }

  void send_audio_frames(bool final) {
    for (;;) {
      const int have = av_audio_fifo_size(fifo_.get());
      if (have == 0 || (have < frame_size_ && !final)) return;
      FramePtr f(av_frame_alloc());
      if (!f) throw MediaError("allocate an audio frame: out of memory");
      f->nb_samples = std::min(have, frame_size_);
      f->format = AV_SAMPLE_FMT_FLTP;
      f->sample_rate = kAacSampleRate;
      check(av_channel_layout_copy(&f->ch_layout, &aenc_->ch_layout), "set the audio frame layout");
      check(av_frame_get_buffer(f.get(), 0), "allocate an audio frame");
      if (av_audio_fifo_read(fifo_.get(), reinterpret_cast<void**>(f->data), f->nb_samples) < f->nb_samples)
        throw MediaError("read the audio fifo: short read");
      f->pts = audio_pts_;
      audio_pts_ += f->nb_samples;
      encode(aenc_.get(), astream_, f.get(), "encode audio at sample " + std::to_string(f->pts));
    }
  }

  // Sends one frame (nullptr: end of stream) and writes every packet the encoder has ready.
  void encode(AVCodecContext* c, AVStream* st, AVFrame* f, const std::string& step) {
    check(avcodec_send_frame(c, f), step);
    for (;;) {
      const int rc = avcodec_receive_packet(c, pkt_.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      check(rc, step);
      av_packet_rescale_ts(pkt_.get(), c->time_base, st->time_base);
      pkt_->stream_index = st->index;
      check(av_interleaved_write_frame(out_.fmt, pkt_.get()), "write a packet (" + step + ")");
    }
  }

  clip::ClipReader& clip_;
  const clip::ClipHeader h_;
  const std::string path_;
  const Mp4Options opt_;
  bool with_audio_ = false;
  // Destruction order (reverse of declaration): encoders and buffers before the muxer.
  Output out_;
  AVStream* vstream_ = nullptr;  // owned by out_
  AVStream* astream_ = nullptr;
  CodecPtr venc_, aenc_;
  FramePtr vframe_;
  std::unique_ptr<AVPacket, FreePacket> pkt_;
  std::unique_ptr<SwrContext, FreeSwr> swr_;
  std::unique_ptr<AVAudioFifo, FreeFifo> fifo_;
  std::vector<float> audio_;
  int frame_size_ = 1024;
  int64_t audio_in_pos_ = 0;
  int64_t audio_pts_ = 0;
};

}  // namespace

void validate_mp4_options(const Mp4Options& o) {
  if (o.crf < 0 || o.crf > 51) throw MediaError("options: crf = " + std::to_string(o.crf) + " is out of range [0, 51]");
  if (std::none_of(std::begin(kX264Presets), std::end(kX264Presets), [&](const char* p) { return o.preset == p; })) {
    std::string all;
    for (const char* p : kX264Presets) all += (all.empty() ? "" : ", ") + std::string(p);
    throw MediaError("options: preset '" + o.preset + "' is not an x264 preset (" + all + ")");
  }
  if (o.threads < 0 || o.threads > 256)
    throw MediaError("options: threads = " + std::to_string(o.threads) + " is out of range [0, 256]");
}

Mp4Info write_mp4(clip::ClipReader& clip, const std::string& mp4_path, const Mp4Options& options,
                  const KeepGoing& keep_going) {
  validate_mp4_options(options);
  // FFmpeg's own log (stderr) keeps errors only: libx264's per-encode statistics would flood the
  // worker's journal, and every failure reaches the caller as a MediaError naming its step.
  static std::once_flag quiet;
  std::call_once(quiet, [] {
    if (av_log_get_level() > AV_LOG_ERROR) av_log_set_level(AV_LOG_ERROR);
  });
  Writer w(clip, mp4_path, options);
  try {
    return w.run(keep_going);
  } catch (const clip::ClipFileError& e) {
    throw MediaError(std::string("read the clip: ") + e.what());
  }
}

}  // namespace ff::media

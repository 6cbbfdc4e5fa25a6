/* trainer.h: the trainer's state, shared by adamw.c, trainer.c and checkpoint.c. */
#ifndef HW_TRAINER_H
#define HW_TRAINER_H

#include "train.h"

struct hw_trainer {
    hw_model *m;
    hw_train_params p;
    hw_grad *g;
    float *w;                   /* (n) the model's own parameter arena */
    float *m1, *m2;             /* (n) Adam's first and second moments */
    int64_t n;
    hw_param *tensors;          /* (n_tensors) the layout */
    int n_tensors;
    int step;                   /* steps done */
    float last_norm;            /* gradient norm of the last step, before clipping */
    float *gates;               /* (L, H) head-dropout gates of the current step, or NULL */
};

/* One AdamW update of t->w from grad times scale at learning rate lr (step t->step + 1). */
void hw_adamw_update(hw_trainer *t, const float *grad, float lr, float scale);

#endif
